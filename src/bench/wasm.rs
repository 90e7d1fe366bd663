//! The WebAssembly bundle's size (SPEC §9: ≤ 300 KB brotli): the file cargo-leptos writes, raw
//! and brotli-compressed at the strongest setting, and whether it looks like a debug build (a
//! large `name` section or DWARF sections), whose size says nothing about the release bundle.
//!
//! The bundle is split (`cargo leptos build --split`): the main file is what every page loads,
//! and each lazy part (a detail page's view) is fetched when first needed, as the files that
//! cargo-leptos' `__wasm_split_manifest.json` lists for it beside the main file. Each file is
//! compressed on its own, as it is sent.

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
    /// The parts loaded on demand, largest first (none for an unsplit build).
    pub lazy: Vec<LazyPart>,
}

/// One part of a split bundle loaded on demand: the files a lazy function needs beyond the main
/// file (shared ones included, so parts can overlap).
pub struct LazyPart {
    /// The lazy function, without cargo-leptos' underscores and hash (`session_route_view`).
    pub name: String,
    pub brotli: u64,
}

impl BundleSize {
    /// A debug build keeps function names (megabytes) or DWARF; the release bundle has little of
    /// either.
    pub fn looks_like_debug_build(&self) -> bool {
        self.debug_bytes * 10 > self.raw
    }

    /// The most a page opened directly loads: the main file and its largest lazy part.
    pub fn largest_first_load(&self) -> u64 {
        self.brotli + self.lazy.first().map_or(0, |p| p.brotli)
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
        lazy: lazy_parts(path.parent().unwrap_or(Path::new(".")))?,
    }))
}

/// cargo-leptos' list of the files each lazy function needs, beside the main file.
pub const SPLIT_MANIFEST: &str = "__wasm_split_manifest.json";

/// The lazy parts of the split bundle in `dir`, largest first; none without a manifest.
fn lazy_parts(dir: &Path) -> anyhow::Result<Vec<LazyPart>> {
    let manifest = match std::fs::read(dir.join(SPLIT_MANIFEST)) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => anyhow::bail!("cannot read {}: {e}", dir.join(SPLIT_MANIFEST).display()),
    };
    let mut parts = Vec::new();
    for (function, files) in parse_manifest(&manifest)? {
        let mut brotli = 0;
        for file in files {
            let path = dir.join(format!("{file}.wasm"));
            let bytes = std::fs::read(&path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            brotli += brotli_size(&bytes)?;
        }
        parts.push(LazyPart {
            name: lazy_name(&function),
            brotli,
        });
    }
    parts.sort_by(|a, b| b.brotli.cmp(&a.brotli).then_with(|| a.name.cmp(&b.name)));
    Ok(parts)
}

/// The manifest: each lazy function with the names (no extension) of the files it needs.
fn parse_manifest(json: &[u8]) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let map: std::collections::BTreeMap<String, Vec<String>> = serde_json::from_slice(json)
        .map_err(|e| anyhow::anyhow!("{SPLIT_MANIFEST} is not what cargo-leptos writes: {e}"))?;
    Ok(map.into_iter().collect())
}

/// `__session_route_view_7997713029406683353` → `session_route_view`.
fn lazy_name(function: &str) -> String {
    let name = function.trim_start_matches('_');
    match name.rsplit_once('_') {
        Some((head, hash)) if !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_digit()) => {
            head.to_string()
        }
        _ => name.to_string(),
    }
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
    fn a_split_bundle_is_measured_part_by_part() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("app.wasm");
        std::fs::write(&main, b"\0asm\x01\0\0\0").unwrap();
        let Bundle::Measured(unsplit) = measure(&main).unwrap() else {
            panic!("built")
        };
        assert!(unsplit.lazy.is_empty());
        assert_eq!(unsplit.largest_first_load(), unsplit.brotli);

        // Two lazy views sharing one chunk; random bytes, so brotli cannot shrink them away.
        let noise = |n: usize, seed: u64| -> Vec<u8> {
            let mut x = seed;
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        };
        std::fs::write(dir.path().join("chunk_1.wasm"), noise(3_000, 1)).unwrap();
        std::fs::write(dir.path().join("split_a.wasm"), noise(5_000, 2)).unwrap();
        std::fs::write(dir.path().join("split_b.wasm"), noise(1_000, 3)).unwrap();
        std::fs::write(
            dir.path().join(SPLIT_MANIFEST),
            r#"{"__a_view_123": ["chunk_1", "split_a"], "__b_view_456": ["chunk_1", "split_b"]}"#,
        )
        .unwrap();
        let Bundle::Measured(split) = measure(&main).unwrap() else {
            panic!("built")
        };
        let names: Vec<_> = split.lazy.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a_view", "b_view"]);
        // Random bytes do not compress: each part is about the sum of its files.
        assert!((8_000..8_200).contains(&split.lazy[0].brotli));
        assert!((4_000..4_200).contains(&split.lazy[1].brotli));
        assert_eq!(
            split.largest_first_load(),
            split.brotli + split.lazy[0].brotli
        );

        // A file the manifest names but the build did not write is an error, not a smaller bundle.
        std::fs::remove_file(dir.path().join("split_b.wasm")).unwrap();
        assert!(measure(&main).is_err());
    }

    #[test]
    fn lazy_names_lose_underscores_and_hash() {
        assert_eq!(
            lazy_name("__session_route_view_7997713029406683353"),
            "session_route_view"
        );
        assert_eq!(lazy_name("plain"), "plain");
        assert_eq!(lazy_name("__x_"), "x_");
    }

    #[test]
    fn brotli_shrinks_repetitive_bytes() {
        let size = brotli_size(&[42u8; 100_000]).unwrap();
        assert!(size > 0 && size < 100);
    }
}
