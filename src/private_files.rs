//! Files Keyhold writes (database, WAL, mail, keys) are readable by its own user only
//! (SPEC §11): folders 0700, files 0600, whatever the umask. The crate forbids unsafe code,
//! so the umask is left as it is and every folder and file is created with its mode, or
//! narrowed to it when found too open.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The mode of every folder Keyhold makes.
pub const DIR_MODE: u32 = 0o700;
/// The mode of every file Keyhold writes.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents as [`DIR_MODE`].
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir)
}

/// Options that create a file as [`FILE_MODE`] (an existing file keeps its mode).
pub fn file_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    options
}

/// Narrows `path` to `mode` when its group or others may use it; returns whether it had to.
/// A missing path or a symbolic link (not followed) is left alone.
pub fn tighten(path: &Path, mode: u32) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        if meta.file_type().is_symlink() || meta.permissions().mode() & 0o077 == 0 {
            return Ok(false);
        }
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
        Ok(true)
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(false)
    }
}

/// The files of a SQLite database at `path`: the database, its WAL and shared memory.
pub fn sqlite_files(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_owned(), with("-wal"), with("-shm")]
}

/// Before SQLite opens `path`: creates the database file as [`FILE_MODE`] if it does not
/// exist (SQLite makes its WAL and shared-memory files with the database's mode), and
/// narrows the files of one made before.
pub fn prepare_sqlite(path: &Path) -> io::Result<()> {
    if !path.exists() {
        file_options().write(true).create(true).open(path)?;
    }
    for file in sqlite_files(path) {
        tighten(&file, FILE_MODE)?;
    }
    Ok(())
}

/// Narrows the data folder and what Keyhold keeps in it (the database files, the generated
/// keys, the mail folder and its `.eml` files) to this user; returns what was too open.
/// Nothing else in the folder is touched, and a folder that does not exist is not made.
pub fn secure_data_dir(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut fixed = Vec::new();
    let mut check = |path: PathBuf, mode: u32| -> io::Result<()> {
        if tighten(&path, mode)? {
            fixed.push(path);
        }
        Ok(())
    };
    check(dir.to_owned(), DIR_MODE)?;
    for name in ["master.keys", "session.key"] {
        check(dir.join(name), FILE_MODE)?;
    }
    for file in sqlite_files(&dir.join("keyhold.db")) {
        check(file, FILE_MODE)?;
    }
    let mail = dir.join("mail");
    check(mail.clone(), DIR_MODE)?;
    if let Ok(entries) = fs::read_dir(&mail) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "eml") {
                check(path, FILE_MODE)?;
            }
        }
    }
    Ok(fixed)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn a_too_open_data_dir_is_narrowed_and_unknown_files_are_left_alone() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        fs::create_dir_all(dir.join("mail")).expect("mkdir");
        for (p, m) in [
            (dir.clone(), 0o755),
            (dir.join("mail"), 0o755),
            (dir.join("keyhold.db"), 0o644),
            (dir.join("mail/a.eml"), 0o644),
            (dir.join("notes.txt"), 0o644),
        ] {
            if p.extension().is_some() {
                fs::write(&p, "x").expect("write");
            }
            fs::set_permissions(&p, fs::Permissions::from_mode(m)).expect("chmod");
        }
        let fixed = secure_data_dir(&dir).expect("secure");
        assert_eq!(fixed.len(), 4, "{fixed:?}");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("mail")), 0o700);
        assert_eq!(mode(&dir.join("keyhold.db")), 0o600);
        assert_eq!(mode(&dir.join("mail/a.eml")), 0o600);
        assert_eq!(mode(&dir.join("notes.txt")), 0o644, "not Keyhold's");
        assert!(secure_data_dir(&dir).expect("again").is_empty());
    }
}
