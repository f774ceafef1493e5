//! Where the output goes and how it is written safely (DESIGN convention 12): a temporary file
//! beside the destination, fsynced and renamed on success, removed on any failure; an input is
//! never overwritten.

use crate::error::{Error, Result};
use edge_formats::regular_file::kind_name;
use edge_formats::GgmlType;
use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
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

/// Linux's NAME_MAX: the longest file name, in bytes.
const NAME_MAX: usize = 255;
/// Symlinks followed to the file an output replaces (Linux's own limit).
const MAX_SYMLINK_HOPS: usize = 40;

fn output_error(dest: &Path, what: impl Into<String>) -> Error {
    Error::Output {
        path: dest.to_path_buf(),
        what: what.into(),
    }
}

/// The file an output really replaces: `dest`, or where its symlinks lead.
struct Target {
    path: PathBuf,
    /// The regular file found there, if any.
    existing: Option<std::fs::Metadata>,
}

impl Target {
    /// Follows `dest`'s symlinks (a dangling one names the file to create) and refuses
    /// anything but a regular file or nothing: renaming over a FIFO, a device node, a socket
    /// or a folder would replace it. A file with several hard links is refused too: renaming
    /// over one name breaks the link, and writing in place would lose the safe write.
    fn resolve(dest: &Path) -> Result<Target> {
        if dest.as_os_str().as_bytes().ends_with(b"/") {
            return Err(output_error(dest, "names a folder (it ends with `/`)"));
        }
        let mut path = dest.to_path_buf();
        for _ in 0..MAX_SYMLINK_HOPS {
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(Target {
                        path,
                        existing: None,
                    })
                }
                Err(e) => return Err(output_error(dest, e.to_string())),
            };
            let ty = meta.file_type();
            if ty.is_symlink() {
                let link =
                    std::fs::read_link(&path).map_err(|e| output_error(dest, e.to_string()))?;
                path = path.parent().map_or(link.clone(), |dir| dir.join(&link));
                continue;
            }
            let leads_to = if path == dest {
                String::new()
            } else {
                format!("leads to {}, which ", path.display())
            };
            if !ty.is_file() {
                return Err(output_error(
                    dest,
                    format!(
                        "{leads_to}is {}, not a regular file (quantize writes only regular files)",
                        kind_name(ty)
                    ),
                ));
            }
            if meta.nlink() > 1 {
                return Err(output_error(
                    dest,
                    format!(
                        "{leads_to}has {} hard links; replacing it would break them (remove it \
                         or choose another name)",
                        meta.nlink()
                    ),
                ));
            }
            return Ok(Target {
                path,
                existing: Some(meta),
            });
        }
        Err(output_error(
            dest,
            format!("more than {MAX_SYMLINK_HOPS} levels of symbolic links"),
        ))
    }

    /// Gives the new file the mode and owner of the file it replaces, or refuses.
    fn keep_attributes(&self, dest: &Path, file: &File) -> Result<()> {
        let Some(old) = &self.existing else {
            return Ok(());
        };
        file.set_permissions(old.permissions()).map_err(|e| {
            output_error(
                dest,
                format!("cannot keep the mode {:o}: {e}", old.mode() & 0o7777),
            )
        })?;
        let new = file
            .metadata()
            .map_err(|e| output_error(dest, e.to_string()))?;
        if (new.uid(), new.gid()) != (old.uid(), old.gid()) {
            std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid())).map_err(|e| {
                output_error(
                    dest,
                    format!(
                        "cannot keep the owner {}:{} of the file it replaces: {e}",
                        old.uid(),
                        old.gid()
                    ),
                )
            })?;
            // chown clears the set-id bits: set the mode again.
            file.set_permissions(old.permissions())
                .map_err(|e| output_error(dest, e.to_string()))?;
        }
        Ok(())
    }

    fn folder(&self) -> &Path {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }
}

/// The hidden temporary name of output `name` for process `pid`: `.<name>.tmp-<pid>`, with
/// `name` cut so that the whole stays within NAME_MAX bytes.
fn temp_name(name: &OsStr, pid: u32) -> OsString {
    let suffix = format!(".tmp-{pid}");
    let room = NAME_MAX - 1 - suffix.len();
    let name = name.as_bytes();
    let kept = &name[..name.len().min(room)];
    OsString::from_vec([b".", kept, suffix.as_bytes()].concat())
}

/// The process id in a name of [`temp_name`]'s form.
fn temp_pid(file_name: &OsStr) -> Option<u32> {
    let bytes = file_name.as_bytes();
    let at = bytes.windows(5).rposition(|w| w == b".tmp-")?;
    std::str::from_utf8(&bytes[at + 5..]).ok()?.parse().ok()
}

/// Removes the temporary files of output `name` in `folder` left by runs that were killed
/// (SIGKILL, SIGBUS, a power cut): those whose process is gone. Without /proc nothing is
/// known to be dead, so nothing is removed.
fn sweep_stale_temps(folder: &Path, name: &OsStr, ours: &[PathBuf]) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = temp_pid(&file_name) else {
            continue;
        };
        if file_name != temp_name(name, pid) {
            continue;
        }
        let path = entry.path();
        // Our own id: a leftover of an earlier process that had it, unless we made it.
        let alive = if pid == std::process::id() {
            ours.contains(&path)
        } else {
            proc.join(pid.to_string()).exists()
        };
        if !alive && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// A temporary file beside the destination that is deleted on drop unless [`commit`]ted, and
/// by [`remove_unfinished_outputs`] when the process is interrupted.
///
/// [`commit`]: TempOutput::commit
pub struct TempOutput {
    temp: PathBuf,
    /// What the user named (returned by [`commit`](Self::commit)).
    dest: PathBuf,
    /// The file replaced: `dest`, or where its symlinks lead.
    target: PathBuf,
    file: Option<File>,
}

impl TempOutput {
    /// Creates `.<name>.tmp-<pid>` in the folder of the file the output replaces (through
    /// symlinks), after removing the temporary files of dead runs for the same output. Refuses
    /// a destination that is not a regular file (or a symlink to one, or nothing yet).
    pub fn create(dest: &Path) -> Result<Self> {
        let target = Target::resolve(dest)?;
        let name = target
            .path
            .file_name()
            .ok_or_else(|| output_error(dest, "not a file name"))?;
        let temp = target.folder().join(temp_name(name, std::process::id()));
        let mut list = unfinished();
        sweep_stale_temps(target.folder(), name, &list);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| output_error(dest, e.to_string()))?;
        if let Err(e) = target.keep_attributes(dest, &file) {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        list.push(temp.clone());
        Ok(TempOutput {
            temp,
            dest: dest.to_path_buf(),
            target: target.path,
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

    /// fsyncs the data, renames the temporary file onto the destination (the file its
    /// symlinks lead to) and fsyncs the folder. The destination is checked again first: what
    /// is there may have changed while the output was written.
    pub fn commit(mut self) -> Result<PathBuf> {
        let file = self.file.take().ok_or_else(|| Error::Output {
            path: self.dest.clone(),
            what: "already committed".into(),
        })?;
        file.sync_all().map_err(|e| Error::io(&self.temp, e))?;
        drop(file);
        let target = Target::resolve(&self.dest)?;
        if target.path != self.target {
            return Err(output_error(
                &self.dest,
                format!(
                    "now leads to {} instead of {}; not replaced",
                    target.path.display(),
                    self.target.display()
                ),
            ));
        }
        {
            let mut list = unfinished();
            if !list.contains(&self.temp) {
                return Err(Error::Output {
                    path: self.dest.clone(),
                    what: "interrupted before it was complete".into(),
                });
            }
            std::fs::rename(&self.temp, &self.target).map_err(|e| Error::io(&self.dest, e))?;
            list.retain(|t| t != &self.temp);
        }
        // The rename is durable once the folder is synced; not every platform can open a
        // folder for that, and the data is already safe, so a failure here is not an error.
        if let Ok(d) = File::open(target.folder()) {
            let _ = d.sync_all();
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
