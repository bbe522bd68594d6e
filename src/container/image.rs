//! The registry server's image, made from our own binary without pulling
//! anything: a root filesystem holding the binary (and, when the binary is
//! dynamically linked, the shared libraries it loads, at their paths),
//! imported as a one-layer image (Docker's `POST /images/create?fromSrc=-`,
//! what `docker import` does). The tag is the content hash of that root
//! filesystem, so the same binary is imported once and reused after.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Repository of every image the harness imports.
pub const REPO: &str = "rollback-drill-registry";

/// The binary's path inside the image.
pub const ENTRYPOINT: &str = "/rollback-drill";

/// The root filesystem of the image, as a tar archive, and its tag.
pub struct RootFs {
    pub tar: Vec<u8>,
    /// First 16 hex digits of the tar's SHA-256.
    pub tag: String,
    /// Files in it, by path inside the image.
    pub files: Vec<String>,
    /// The binary is statically linked: the image holds one file.
    pub is_static: bool,
}

/// Whether an ELF file asks for a program interpreter (dynamic linking).
/// `None`: not a 64-bit little-endian ELF file.
pub fn has_interpreter(bytes: &[u8]) -> Option<bool> {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().ok()?) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let p_type = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
        if p_type == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

/// Why the registry image's root filesystem cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} is not a 64-bit ELF executable; the container image needs a Linux x86_64 build",
        .0.display()
    )]
    NotElf(PathBuf),
    #[error(
        "{} is dynamically linked and `ldd` could not list its libraries ({source}); build a static binary (see the README) and set ROLLBACK_DRILL_CONTAINER_EXE to it",
        exe.display()
    )]
    NoLdd {
        exe: PathBuf,
        source: std::io::Error,
    },
    #[error("`ldd {}` failed: {stderr}", exe.display())]
    Ldd { exe: PathBuf, stderr: String },
    #[error("cannot build the image's root filesystem: {0}")]
    Archive(std::io::Error),
    #[error(
        "{EXE_ENV}={} is not a file: point it at a rollback-drill build (e.g. the static one in target/x86_64-unknown-linux-gnu/release/)",
        .0.display()
    )]
    NotAFile(PathBuf),
    #[error("cannot find this program's own binary: {0}")]
    OwnBinary(std::io::Error),
    /// The engine took the archive and refused it as an image.
    #[error("{0}")]
    Refused(String),
}

/// The shared libraries `ldd` lists for a dynamic binary (interpreter
/// included), as absolute paths.
fn shared_libraries(exe: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let out = std::process::Command::new("ldd")
        .arg(exe)
        .output()
        .map_err(|source| ImageError::NoLdd {
            exe: exe.to_path_buf(),
            source,
        })?;
    if !out.status.success() {
        return Err(ImageError::Ldd {
            exe: exe.to_path_buf(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let mut libs = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or
        // `/lib64/ld-linux-x86-64.so.2 (0x…)`; `linux-vdso.so.1 (0x…)` has no file.
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    Ok(libs)
}

fn append(
    builder: &mut tar::Builder<Vec<u8>>,
    path: &str,
    data: &[u8],
    mode: u32,
) -> Result<(), ImageError> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, path.trim_start_matches('/'), data)
        .map_err(ImageError::Archive)
}

fn read(path: &Path) -> Result<Vec<u8>, ImageError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|source| ImageError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(bytes)
}

/// The root filesystem for `exe`: deterministic (sorted entries, zero
/// times and owners), so the same binary always gives the same tag.
pub fn rootfs(exe: &Path) -> Result<RootFs, ImageError> {
    let binary = read(exe)?;
    let dynamic = has_interpreter(&binary).ok_or_else(|| ImageError::NotElf(exe.to_path_buf()))?;
    let mut entries: Vec<(String, Vec<u8>, u32)> = vec![(ENTRYPOINT.to_string(), binary, 0o755)];
    if dynamic {
        for lib in shared_libraries(exe)? {
            let data = read(&lib)?;
            entries.push((lib.display().to_string(), data, 0o755));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|a, b| a.0 == b.0);
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data, mode) in &entries {
        append(&mut builder, path, data, *mode)?;
    }
    let tar = builder.into_inner().map_err(ImageError::Archive)?;
    let digest = Sha256::digest(&tar);
    let tag: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(RootFs {
        tar,
        tag,
        files: entries.into_iter().map(|(p, _, _)| p).collect(),
        is_static: !dynamic,
    })
}

/// Which binary goes into the image: `ROLLBACK_DRILL_CONTAINER_EXE` when
/// set (CI points it at the static release build), else this very binary.
pub fn chosen_exe() -> Result<PathBuf, ImageError> {
    match std::env::var_os(EXE_ENV) {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            if p.is_file() {
                Ok(p)
            } else {
                Err(ImageError::NotAFile(p))
            }
        }
        _ => std::env::current_exe().map_err(ImageError::OwnBinary),
    }
}

/// The variable naming the binary to put in the image.
pub const EXE_ENV: &str = "ROLLBACK_DRILL_CONTAINER_EXE";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_interpreter_is_read_from_program_headers() {
        let mut elf = vec![0u8; 64 + 56 * 2];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        elf[64..68].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        assert_eq!(has_interpreter(&elf), Some(false));
        elf[64 + 56..64 + 60].copy_from_slice(&3u32.to_le_bytes()); // PT_INTERP
        assert_eq!(has_interpreter(&elf), Some(true));
        assert_eq!(has_interpreter(b"#!/bin/sh\n"), None);
    }

    #[test]
    fn the_same_binary_gives_the_same_tag() {
        let exe = std::env::current_exe().expect("the test binary");
        let (a, b) = (rootfs(&exe).expect("rootfs"), rootfs(&exe).expect("rootfs"));
        assert_eq!(a.tag, b.tag);
        assert_eq!(a.tag.len(), 16);
        assert!(a.files.contains(&ENTRYPOINT.to_string()));
        let bytes = std::fs::read(&exe).expect("the test binary");
        if has_interpreter(&bytes) == Some(true) {
            // A dynamic build: its loader travels with it.
            assert!(!a.is_static);
            assert!(
                a.files.iter().any(|f| f.contains("ld-linux")),
                "{:?}",
                a.files
            );
        } else {
            // A static build (as CI makes): the binary alone.
            assert!(a.is_static);
            assert_eq!(a.files, vec![ENTRYPOINT.to_string()]);
        }
    }
}
