//! The WebAssembly bundle's size (SPEC §9: ≤ 300 KB brotli): the file cargo-leptos writes, raw
//! and brotli-compressed at the strongest setting, and whether it looks like a debug build (a
//! large `name` section or DWARF sections), whose size says nothing about the release bundle.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Brotli quality and window of the measurement: the strongest quality, the library's default
/// window (what `brotli -q 11` and pre-compressing static servers use).
pub const QUALITY: u32 = 11;
pub const WINDOW_BITS: u32 = 22;

/// What was found at the bundle's path.
pub enum Bundle {
    NotBuilt(PathBuf),
    Measured(BundleSize),
}

pub struct BundleSize {
    pub path: PathBuf,
    pub raw: u64,
    pub brotli: u64,
    pub modified: Option<SystemTime>,
    /// Bytes in custom sections that a release build strips: `name` and `.debug_*`.
    pub debug_bytes: u64,
}

impl BundleSize {
    /// A debug build keeps function names (megabytes) or DWARF; the release bundle has little of
    /// either.
    pub fn looks_like_debug_build(&self) -> bool {
        self.debug_bytes * 10 > self.raw
    }
}

/// Reads and compresses the bundle (seconds for a release bundle, longer for a debug one).
pub fn measure(path: &Path) -> anyhow::Result<Bundle> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Bundle::NotBuilt(path.to_path_buf()))
        }
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    };
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    Ok(Bundle::Measured(BundleSize {
        path: path.to_path_buf(),
        raw: bytes.len() as u64,
        brotli: brotli_size(&bytes)?,
        modified,
        debug_bytes: custom_sections(&bytes)
            .iter()
            .filter(|(name, _)| name == "name" || name.starts_with(".debug"))
            .map(|(_, size)| *size)
            .sum(),
    }))
}

fn brotli_size(bytes: &[u8]) -> std::io::Result<u64> {
    let mut out = Vec::with_capacity(bytes.len() / 3);
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 1 << 16, QUALITY, WINDOW_BITS);
        writer.write_all(bytes)?;
        writer.flush()?;
    }
    Ok(out.len() as u64)
}

/// The custom sections of a WebAssembly module: (name, size of the whole section content). A
/// malformed module yields what could be read before the damage.
pub fn custom_sections(module: &[u8]) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    if module.len() < 8 || &module[..4] != b"\0asm" {
        return out;
    }
    let mut at = 8;
    while at < module.len() {
        let id = module[at];
        let Some((size, body)) = leb128(module, at + 1) else {
            break;
        };
        let end = body.saturating_add(size as usize);
        if end > module.len() {
            break;
        }
        if id == 0 {
            if let Some((len, name_at)) = leb128(module, body) {
                let name = module
                    .get(name_at..name_at.saturating_add(len as usize))
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .unwrap_or_default();
                out.push((name, size));
            }
        }
        at = end;
    }
    out
}

/// An unsigned LEB128 number at `at`: (value, index after it).
fn leb128(bytes: &[u8], mut at: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(at)?;
        at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some((value, at));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(name: &str, payload: &[u8]) -> Vec<u8> {
        let mut content = vec![name.len() as u8];
        content.extend_from_slice(name.as_bytes());
        content.extend_from_slice(payload);
        let mut s = vec![0u8, content.len() as u8];
        s.extend(content);
        s
    }

    #[test]
    fn custom_sections_are_listed_with_their_sizes() {
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.extend([1u8, 2, 0x60, 0]); // a type section
        module.extend(custom("name", &[7; 20]));
        module.extend(custom(".debug_info", &[1; 3]));
        assert_eq!(
            custom_sections(&module),
            vec![("name".to_string(), 25), (".debug_info".to_string(), 15)]
        );
        // Truncated: what came before survives.
        module.truncate(module.len() - 2);
        assert_eq!(custom_sections(&module), vec![("name".to_string(), 25)]);
        assert!(custom_sections(b"not wasm").is_empty());
    }

    #[test]
    fn leb128_reads_multi_byte_numbers() {
        assert_eq!(leb128(&[0xe5, 0x8e, 0x26], 0), Some((624_485, 3)));
        assert_eq!(leb128(&[0x80], 0), None);
    }

    #[test]
    fn brotli_shrinks_repetitive_bytes() {
        let size = brotli_size(&[42u8; 100_000]).unwrap();
        assert!(size > 0 && size < 100);
    }
}
