//! Where the output goes and how it is written safely (DESIGN convention 12): a temporary file
//! beside the destination, fsynced and renamed on success, removed on any failure; an input is
//! never overwritten.

use crate::error::{Error, Result};
use edge_formats::GgmlType;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `<name>-<type>.gguf` beside the input: for a folder, in its parent and named after it; for
/// a file, beside it and named after its stem.
pub fn default_output(input: &Path, ty: GgmlType) -> Result<PathBuf> {
    let absolute = std::path::absolute(input).map_err(|e| Error::io(input, e))?;
    let stem = if input.is_dir() {
        absolute.file_name()
    } else {
        absolute.file_stem()
    };
    let (Some(stem), Some(parent)) = (stem.and_then(|s| s.to_str()), absolute.parent()) else {
        return Err(Error::Input {
            path: input.to_path_buf(),
            what: "cannot derive an output name from this path; pass -o".into(),
        });
    };
    Ok(parent.join(format!("{stem}-{}.gguf", ty.name().to_lowercase())))
}

/// Fails when `output` is (or, for a folder input, lies inside) one of the inputs. Paths are
/// compared canonically, so `./x`, symlinks and `..` do not slip through.
pub fn check_not_input(output: &Path, inputs: &[PathBuf]) -> Result<()> {
    let out = canonical_destination(output)?;
    for input in inputs {
        let Ok(input_canon) = input.canonicalize() else {
            continue;
        };
        let clash = if input_canon.is_dir() {
            out.starts_with(&input_canon)
        } else {
            out == input_canon
        };
        if clash {
            return Err(Error::OutputIsInput {
                output: output.to_path_buf(),
                input: input.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// The canonical form of a path that may not exist yet: its parent canonicalized, plus its name
/// (itself canonicalized when it exists, so a symlink to an input is caught).
fn canonical_destination(output: &Path) -> Result<PathBuf> {
    if let Ok(c) = output.canonicalize() {
        return Ok(c);
    }
    let name = output.file_name().ok_or_else(|| Error::Output {
        path: output.to_path_buf(),
        what: "not a file name".into(),
    })?;
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let parent = parent.canonicalize().map_err(|e| Error::Output {
        path: output.to_path_buf(),
        what: format!("folder {}: {e}", parent.display()),
    })?;
    Ok(parent.join(name))
}

/// Temporary files of outputs not yet committed, for [`remove_unfinished_outputs`]. A commit
/// renames and unregisters under this lock, so an interruption either finds the finished file
/// in place or removes the temporary one, never half of each.
static UNFINISHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn unfinished() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    UNFINISHED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Deletes the temporary file of every output still being written and returns how many there
/// were. For an interrupt handler (the `quantize` binary's Ctrl-C / SIGTERM), which exits
/// right after: the writers are not told.
pub fn remove_unfinished_outputs() -> usize {
    let mut list = unfinished();
    for temp in list.iter() {
        let _ = std::fs::remove_file(temp);
    }
    std::mem::take(&mut *list).len()
}

/// A temporary file beside the destination that is deleted on drop unless [`commit`]ted, and
/// by [`remove_unfinished_outputs`] when the process is interrupted.
///
/// [`commit`]: TempOutput::commit
pub struct TempOutput {
    temp: PathBuf,
    dest: PathBuf,
    file: Option<File>,
}

impl TempOutput {
    /// Creates `.<name>.tmp-<pid>` in the destination's folder.
    pub fn create(dest: &Path) -> Result<Self> {
        let name = dest
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::Output {
                path: dest.to_path_buf(),
                what: "not a file name".into(),
            })?;
        if dest.is_dir() {
            return Err(Error::Output {
                path: dest.to_path_buf(),
                what: "is a folder".into(),
            });
        }
        let temp = dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let mut list = unfinished();
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| Error::Output {
                path: dest.to_path_buf(),
                what: e.to_string(),
            })?;
        list.push(temp.clone());
        Ok(TempOutput {
            temp,
            dest: dest.to_path_buf(),
            file: Some(file),
        })
    }

    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// The open temporary file (None only after [`commit`](Self::commit)).
    pub fn file(&mut self) -> Result<&mut File> {
        self.file.as_mut().ok_or_else(|| Error::Output {
            path: self.dest.clone(),
            what: "already committed".into(),
        })
    }

    /// fsyncs the data, renames the temporary file onto the destination and fsyncs the folder.
    pub fn commit(mut self) -> Result<PathBuf> {
        let file = self.file.take().ok_or_else(|| Error::Output {
            path: self.dest.clone(),
            what: "already committed".into(),
        })?;
        file.sync_all().map_err(|e| Error::io(&self.temp, e))?;
        drop(file);
        {
            let mut list = unfinished();
            if !list.contains(&self.temp) {
                return Err(Error::Output {
                    path: self.dest.clone(),
                    what: "interrupted before it was complete".into(),
                });
            }
            std::fs::rename(&self.temp, &self.dest).map_err(|e| Error::io(&self.dest, e))?;
            list.retain(|t| t != &self.temp);
        }
        // The rename is durable once the folder is synced; not every platform can open a
        // folder for that, and the data is already safe, so a failure here is not an error.
        if let Some(dir) = self.dest.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.temp = PathBuf::new();
        Ok(self.dest.clone())
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        self.file = None;
        if !self.temp.as_os_str().is_empty() {
            let mut list = unfinished();
            let _ = std::fs::remove_file(&self.temp);
            list.retain(|t| t != &self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn default_names() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("SmolLM2-135M");
        std::fs::create_dir(&folder).unwrap();
        assert_eq!(
            default_output(&folder, GgmlType::Q4_0).unwrap(),
            dir.path().join("SmolLM2-135M-q4_0.gguf")
        );
        let file = dir.path().join("m.Q4_1.gguf");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(
            default_output(&file, GgmlType::Q8_0).unwrap(),
            dir.path().join("m.Q4_1-q8_0.gguf")
        );
    }

    #[test]
    fn refuses_to_overwrite_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("model");
        std::fs::create_dir(&folder).unwrap();
        let weights = folder.join("model.safetensors");
        std::fs::write(&weights, b"x").unwrap();
        let inputs = vec![folder.clone()];
        // Inside the input folder, spelled through `..`.
        let sneaky = folder.join("../model/out.gguf");
        assert!(matches!(
            check_not_input(&sneaky, &inputs),
            Err(Error::OutputIsInput { .. })
        ));
        assert!(check_not_input(&dir.path().join("out.gguf"), &inputs).is_ok());
        // A file input: the file itself is refused, a sibling is fine.
        let inputs = vec![weights.clone()];
        assert!(check_not_input(&weights, &inputs).is_err());
        assert!(check_not_input(&folder.join("out.gguf"), &inputs).is_ok());
        // Missing output folder: an error naming the output.
        let e = check_not_input(&dir.path().join("nope/out.gguf"), &inputs).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }

    #[test]
    fn temp_file_is_removed_unless_committed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.gguf");
        {
            let mut t = TempOutput::create(&dest).unwrap();
            t.file().unwrap().write_all(b"partial").unwrap();
            assert!(t.temp_path().exists());
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut t = TempOutput::create(&dest).unwrap();
        t.file().unwrap().write_all(b"done").unwrap();
        assert_eq!(t.commit().unwrap(), dest);
        assert_eq!(std::fs::read(&dest).unwrap(), b"done");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
