//! Model files must be regular files (a symlink to one is fine): opening a FIFO blocks forever,
//! and a folder or a device cannot be mapped ("No such device"). These checks say what the path
//! really is instead.

use crate::{Error, Result};
use std::fs::{File, FileType};
use std::path::Path;

/// What a file type is, in words: "a folder", "a FIFO", ...
pub fn kind_name(ty: FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ty.is_file() {
        "a regular file"
    } else if ty.is_dir() {
        "a folder"
    } else if ty.is_fifo() {
        "a FIFO"
    } else if ty.is_socket() {
        "a socket"
    } else if ty.is_char_device() {
        "a character device"
    } else if ty.is_block_device() {
        "a block device"
    } else if ty.is_symlink() {
        "a symbolic link"
    } else {
        "a special file"
    }
}

/// Fails unless `path` is a regular file or a symlink to one, naming what it is instead (a
/// folder, a FIFO, a device, a symlink loop, a dangling symlink).
pub fn check_regular(path: &Path) -> Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A dangling symlink reports NotFound for its target: say so.
            if let Ok(target) = std::fs::read_link(path) {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source: std::io::Error::new(
                        e.kind(),
                        format!(
                            "symbolic link to {}, which does not exist",
                            target.display()
                        ),
                    ),
                });
            }
            return Err(Error::io(path, e));
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    if meta.is_file() {
        Ok(())
    } else {
        Err(not_regular(path, meta.file_type()))
    }
}

/// Opens a model file for reading after [`check_regular`], and checks the opened file again
/// (the path may have been replaced in between).
pub fn open_regular(path: &Path) -> Result<File> {
    check_regular(path)?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(not_regular(path, meta.file_type()));
    }
    Ok(file)
}

fn not_regular(path: &Path, ty: FileType) -> Error {
    Error::unsupported(
        path,
        format!(
            "is {}, not a regular file (model files must be regular files)",
            kind_name(ty)
        ),
    )
}
