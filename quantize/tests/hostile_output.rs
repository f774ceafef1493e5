//! `quantize -o` against what may already be at the output path (issue 13, items 1 and 7):
//! special files are refused and left as they are, symlinks are followed and kept, the mode of
//! a replaced file is kept, hard links are refused rather than broken, names near NAME_MAX
//! work, and temporary files of killed runs are swept. Every FIFO, device node, socket and link
//! is made in a temporary folder; nothing under /dev is touched.

#[path = "../../tests/common/hostile.rs"]
mod hostile;

use hostile::{expect_refusal, expect_success, finish, listing, mkfifo};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn tinystories() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/tinystories-656k")
}

/// `quantize tinystories-656k --type q8_0 -o output`, killed after 60 s (a FIFO opened for
/// writing would block it forever).
fn quantize_to(output: &Path) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_quantize"))
        .arg(tinystories())
        .args(["--type", "q8_0", "--quiet", "-o"])
        .arg(output)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run quantize");
    finish(child, &format!("quantize -o {}", output.display()))
}

fn is_gguf(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.starts_with(b"GGUF"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

#[test]
fn special_files_at_the_output_are_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("pipe.gguf");
    mkfifo(&fifo);
    let folder = d.join("folder.gguf");
    std::fs::create_dir(&folder).unwrap();
    let socket = d.join("socket.gguf");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let link_to_fifo = d.join("link-to-pipe.gguf");
    std::os::unix::fs::symlink(&fifo, &link_to_fifo).unwrap();
    let looped = d.join("loop.gguf");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    let mut cases: Vec<(PathBuf, Vec<&str>)> = vec![
        (
            fifo.clone(),
            vec!["pipe.gguf", "a FIFO", "not a regular file"],
        ),
        (folder.clone(), vec!["folder.gguf", "a folder"]),
        (socket.clone(), vec!["socket.gguf", "a socket"]),
        (
            link_to_fifo.clone(),
            vec!["link-to-pipe.gguf", "pipe.gguf", "a FIFO"],
        ),
        (looped.clone(), vec!["loop.gguf", "symbolic links"]),
        // A name that ends with a slash names a folder, even when nothing is there.
        (
            PathBuf::from(format!("{}/", d.join("new.gguf").display())),
            vec!["new.gguf/", "folder"],
        ),
    ];
    let device = d.join("null.gguf");
    if is_root() {
        // The same device numbers as /dev/null, made here.
        let made = Command::new("mknod")
            .arg(&device)
            .args(["c", "1", "3"])
            .status();
        assert!(made.unwrap().success());
        cases.push((device.clone(), vec!["null.gguf", "a character device"]));
    } else {
        println!("note: not root, so no device node can be made; that case is skipped");
    }
    let before = listing(d);
    for (path, needles) in &cases {
        expect_refusal(&quantize_to(path), needles);
    }
    assert_eq!(listing(d), before, "nothing created or removed");
    let ty = |p: &Path| std::fs::symlink_metadata(p).unwrap().file_type();
    assert!(ty(&fifo).is_fifo());
    assert!(ty(&folder).is_dir());
    assert!(ty(&socket).is_socket());
    assert!(ty(&link_to_fifo).is_symlink());
    if is_root() {
        assert!(ty(&device).is_char_device());
    }
    assert!(listing(&folder).is_empty());
}

#[test]
fn symlinks_are_followed_and_kept_and_modes_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let real_dir = d.join("real");
    std::fs::create_dir(&real_dir).unwrap();

    // An existing file with mode 600, replaced through a relative symlink in another folder.
    let target = real_dir.join("model.gguf");
    std::fs::write(&target, b"old").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = d.join("link.gguf");
    std::os::unix::fs::symlink("real/model.gguf", &link).unwrap();
    expect_success(&quantize_to(&link));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(is_gguf(&target));
    let mode = std::fs::metadata(&target).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o600, "mode {mode:o}");

    // A file replaced directly keeps its mode too.
    let plain = d.join("plain.gguf");
    std::fs::write(&plain, b"old").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o640)).unwrap();
    expect_success(&quantize_to(&plain));
    assert!(is_gguf(&plain));
    assert_eq!(std::fs::metadata(&plain).unwrap().mode() & 0o7777, 0o640);

    // A dangling symlink: the file it names is created, the link stays.
    let dangling = d.join("dangling.gguf");
    std::os::unix::fs::symlink(real_dir.join("new.gguf"), &dangling).unwrap();
    expect_success(&quantize_to(&dangling));
    assert!(std::fs::symlink_metadata(&dangling)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(is_gguf(&real_dir.join("new.gguf")));

    assert_eq!(
        listing(d),
        ["dangling.gguf", "link.gguf", "plain.gguf", "real"]
    );
    assert_eq!(listing(&real_dir), ["model.gguf", "new.gguf"]);
}

#[test]
fn hard_links_are_refused_not_broken() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = d.join("a.gguf");
    let b = d.join("b.gguf");
    std::fs::write(&a, b"old").unwrap();
    std::fs::hard_link(&a, &b).unwrap();
    expect_refusal(&quantize_to(&a), &["a.gguf", "2 hard links"]);
    assert_eq!(std::fs::read(&a).unwrap(), b"old");
    assert_eq!(std::fs::metadata(&a).unwrap().nlink(), 2);
    assert_eq!(listing(d), ["a.gguf", "b.gguf"]);
}

#[test]
fn names_near_name_max_and_not_utf8_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 255 bytes, the longest name Linux allows: the temporary name must be shortened.
    let long = format!("{}.gguf", "m".repeat(250));
    expect_success(&quantize_to(&d.join(&long)));
    // A name that is not UTF-8.
    let odd = OsStr::from_bytes(b"caf\xe9.gguf");
    expect_success(&quantize_to(&d.join(odd)));
    let mut names: Vec<Vec<u8>> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().as_bytes().to_vec())
        .collect();
    names.sort();
    assert_eq!(names, [b"caf\xe9.gguf".to_vec(), long.into_bytes()]);
    assert!(is_gguf(&d.join(odd)));
}

#[test]
fn temporary_files_of_dead_runs_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A process id that is not running: a child that has exited and been reaped.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let alive = std::process::id();
    let stale = d.join(format!(".out.gguf.tmp-{dead}"));
    let running = d.join(format!(".out.gguf.tmp-{alive}"));
    let other = d.join(format!(".other.gguf.tmp-{dead}"));
    for p in [&stale, &running, &other] {
        std::fs::write(p, b"partial").unwrap();
    }
    // The leftover of a long name, whose temporary name was shortened.
    let long = format!("{}.gguf", "m".repeat(250));
    let suffix = format!(".tmp-{dead}");
    let stale_long = d.join(format!(".{}{suffix}", &long[..254 - suffix.len()]));
    std::fs::write(&stale_long, b"partial").unwrap();

    expect_success(&quantize_to(&d.join("out.gguf")));
    expect_success(&quantize_to(&d.join(&long)));
    let mut want = vec![
        long.clone(),
        "out.gguf".to_string(),
        format!(".other.gguf.tmp-{dead}"),
        format!(".out.gguf.tmp-{alive}"),
    ];
    want.sort();
    assert_eq!(
        listing(d),
        want,
        "only the dead run's files of these outputs go"
    );
}
