//! Builders of `docker save` archives in memory (both layouts), for tests and benchmarks that need an image without
//! Docker.

use serde_json::json;

/// One file of a layer: path (no leading `/`), mode, contents. A path ending in `/` is a directory.
pub type File = (String, u32, Vec<u8>);

fn tar_of(files: &[File]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, mode, data) in files {
        let mut header = tar::Header::new_gnu();
        if path.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
        } else {
            header.set_size(data.len() as u64);
        }
        header.set_mode(*mode);
        header.set_mtime(0);
        header.set_cksum();
        builder.append_data(&mut header, path, data.as_slice()).expect("in-memory tar");
    }
    builder.into_inner().expect("in-memory tar")
}

fn hex(data: &[u8]) -> String {
    // Not a real digest (no sha2 here): a stable 64-hex-digit name derived from the bytes.
    let mut h: [u64; 4] = [0xcbf2_9ce4_8422_2325, 0x8422_2325_cbf2_9ce4, 1, 2];
    for (i, b) in data.iter().enumerate() {
        let lane = i % 4;
        h[lane] ^= u64::from(*b);
        h[lane] = h[lane].wrapping_mul(0x0100_0000_01b3);
    }
    h.iter().map(|v| format!("{v:016x}")).collect()
}

/// A `docker save` archive of an image with these layers (base first) and this runtime config (`{"User": …}`).
/// `oci` picks the Docker 25+ layout (`blobs/sha256/…`, entries sorted by name); `gzip` compresses the layers.
pub fn save_archive(layers: &[Vec<File>], run_config: serde_json::Value, tag: &str, oci: bool, gzip: bool) -> Vec<u8> {
    let compression = if gzip { Compression::Gzip } else { Compression::None };
    save_archive_with(layers, run_config, tag, oci, compression)
}

/// How the layers of a built archive are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip, as `docker save` of pulled images in the OCI layout.
    Gzip,
    /// zstd, as containerd's image store may keep them.
    Zstd,
}

/// [`save_archive`] with a choice of layer compression.
pub fn save_archive_with(
    layers: &[Vec<File>],
    run_config: serde_json::Value,
    tag: &str,
    oci: bool,
    compression: Compression,
) -> Vec<u8> {
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut layer_paths = Vec::new();
    let mut diff_ids = Vec::new();
    for files in layers {
        let plain = tar_of(files);
        diff_ids.push(format!("sha256:{}", hex(&plain)));
        let data = match compression {
            Compression::Gzip => {
                let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                std::io::Write::write_all(&mut z, &plain).expect("gzip");
                z.finish().expect("gzip")
            }
            Compression::Zstd => {
                ruzstd::encoding::compress_to_vec(plain.as_slice(), ruzstd::encoding::CompressionLevel::Fastest)
            }
            Compression::None => plain,
        };
        let name = if oci { format!("blobs/sha256/{}", hex(&data)) } else { format!("{}/layer.tar", hex(&data)) };
        layer_paths.push(name.clone());
        blobs.push((name, data));
    }
    let history: Vec<serde_json::Value> =
        (0..layers.len()).map(|i| json!({"created_by": format!("COPY layer{i} /")})).collect();
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": run_config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    let config_bytes = serde_json::to_vec(&config).expect("json");
    let config_name =
        if oci { format!("blobs/sha256/{}", hex(&config_bytes)) } else { format!("{}.json", hex(&config_bytes)) };
    blobs.push((config_name.clone(), config_bytes));
    let manifest = json!([{"Config": config_name, "RepoTags": [tag], "Layers": layer_paths}]);
    blobs.push(("manifest.json".to_string(), serde_json::to_vec(&manifest).expect("json")));
    if oci {
        blobs.push(("index.json".to_string(), b"{\"schemaVersion\":2,\"manifests\":[]}".to_vec()));
        blobs.push(("oci-layout".to_string(), b"{\"imageLayoutVersion\":\"1.0.0\"}".to_vec()));
        blobs.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let files: Vec<File> = blobs.into_iter().map(|(n, d)| (n, 0o644, d)).collect();
    tar_of(&files)
}

/// A file entry.
pub fn file(path: &str, mode: u32, data: impl Into<Vec<u8>>) -> File {
    (path.to_string(), mode, data.into())
}

/// A dpkg status paragraph of an installed package (with an optional `Source`).
pub fn dpkg_paragraph(package: &str, version: &str, source: Option<&str>) -> String {
    let source = source.map(|s| format!("Source: {s}\n")).unwrap_or_default();
    format!(
        "Package: {package}\nStatus: install ok installed\nPriority: optional\nSection: misc\nInstalled-Size: 100\n\
         Maintainer: Nobody <nobody@example.org>\nArchitecture: amd64\n{source}Version: {version}\n\
         Description: the {package} package\n A longer description.\n\n"
    )
}

/// Go 1.18+ build info bytes as the Go linker writes them (for an executable made without a Go toolchain).
pub fn go_buildinfo_blob(go_version: &str, modules: &[(&str, &str)]) -> Vec<u8> {
    let sentinel_start = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6";
    let sentinel_end = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2";
    let mut modinfo = sentinel_start.to_vec();
    modinfo.extend_from_slice(b"path\texample.com/app\nmod\texample.com/app\t(devel)\t\n");
    for (path, version) in modules {
        modinfo.extend_from_slice(format!("dep\t{path}\t{version}\th1:AAAA=\n").as_bytes());
    }
    modinfo.extend_from_slice(sentinel_end);
    let mut out = crate::inventory::GO_BUILDINFO_MAGIC.to_vec();
    out.push(8);
    out.push(2);
    out.resize(32, 0);
    for text in [go_version.as_bytes(), &modinfo] {
        let mut len = text.len();
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(text);
    }
    out
}

/// A small ELF executable carrying Go build info for these modules.
pub fn go_binary(go_version: &str, modules: &[(&str, &str)]) -> Vec<u8> {
    let mut out = crate::elf::build_elf64(&[(".text", b"\x90\x90\x90\x90")]);
    out.extend(go_buildinfo_blob(go_version, modules));
    out
}

/// A small ELF executable carrying `cargo auditable` data for these crates.
pub fn auditable_binary(crates: &[(&str, &str)]) -> Vec<u8> {
    let packages: Vec<serde_json::Value> =
        crates.iter().map(|(n, v)| json!({"name": n, "version": v, "source": "crates.io"})).collect();
    let json = serde_json::to_vec(&json!({"packages": packages})).expect("json");
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, &json).expect("zlib");
    crate::elf::build_elf64(&[(".dep-v0", &z.finish().expect("zlib"))])
}
