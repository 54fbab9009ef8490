//! Just enough of ELF to find a named section (`.dep-v0` of `cargo auditable`), bounds-checked: a damaged or
//! truncated file gives `None`, never a panic.

fn read_u16(data: &[u8], at: usize, little: bool) -> Option<u16> {
    let b: [u8; 2] = data.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if little { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) })
}

fn read_u32(data: &[u8], at: usize, little: bool) -> Option<u32> {
    let b: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
}

fn read_u64(data: &[u8], at: usize, little: bool) -> Option<u64> {
    let b: [u8; 8] = data.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(if little { u64::from_le_bytes(b) } else { u64::from_be_bytes(b) })
}

/// Whether the bytes start like an ELF file.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
}

/// The contents of the section called `name`, if the file is a well-formed ELF file that has it.
pub fn section<'a>(data: &'a [u8], name: &str) -> Option<&'a [u8]> {
    if !is_elf(data) {
        return None;
    }
    let wide = match data.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match data.get(5)? {
        1 => true,
        2 => false,
        _ => return None,
    };
    let (shoff, shentsize, shnum, shstrndx) = if wide {
        (
            usize::try_from(read_u64(data, 0x28, little)?).ok()?,
            usize::from(read_u16(data, 0x3a, little)?),
            usize::from(read_u16(data, 0x3c, little)?),
            usize::from(read_u16(data, 0x3e, little)?),
        )
    } else {
        (
            usize::try_from(read_u32(data, 0x20, little)?).ok()?,
            usize::from(read_u16(data, 0x2e, little)?),
            usize::from(read_u16(data, 0x30, little)?),
            usize::from(read_u16(data, 0x32, little)?),
        )
    };
    // (name offset, file offset, size) of section `i`.
    let header = |i: usize| -> Option<(usize, usize, usize)> {
        let at = shoff.checked_add(i.checked_mul(shentsize)?)?;
        if wide {
            Some((
                usize::try_from(read_u32(data, at, little)?).ok()?,
                usize::try_from(read_u64(data, at + 0x18, little)?).ok()?,
                usize::try_from(read_u64(data, at + 0x20, little)?).ok()?,
            ))
        } else {
            Some((
                usize::try_from(read_u32(data, at, little)?).ok()?,
                usize::try_from(read_u32(data, at + 0x10, little)?).ok()?,
                usize::try_from(read_u32(data, at + 0x14, little)?).ok()?,
            ))
        }
    };
    let (_, names_at, names_len) = header(shstrndx)?;
    let names = data.get(names_at..names_at.checked_add(names_len)?)?;
    for i in 0..shnum.min(4096) {
        let (name_at, at, len) = header(i)?;
        let Some(rest) = names.get(name_at..) else { continue };
        let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
        if &rest[..end] == name.as_bytes() {
            return data.get(at..at.checked_add(len)?);
        }
    }
    None
}

/// A minimal little-endian ELF64 file with the given sections, for tests and the demo image.
pub fn build_elf64(sections: &[(&str, &[u8])]) -> Vec<u8> {
    let mut names = vec![0u8];
    let mut name_offsets = Vec::new();
    for (name, _) in sections.iter().copied().chain([(".shstrtab", &[][..])]) {
        name_offsets.push(names.len() as u32);
        names.extend_from_slice(name.as_bytes());
        names.push(0);
    }
    let mut body = Vec::new();
    let mut placed = Vec::new();
    let mut at = 64usize;
    for (_, data) in sections {
        placed.push((at, data.len()));
        body.extend_from_slice(data);
        at += data.len();
    }
    placed.push((at, names.len()));
    body.extend_from_slice(&names);
    at += names.len();
    let shoff = at;
    let count = sections.len() + 2; // the null section, the given ones, .shstrtab
    let mut out = Vec::new();
    out.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    out.extend_from_slice(&2u16.to_le_bytes()); // e_type EXEC
    out.extend_from_slice(&62u16.to_le_bytes()); // x86-64
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes()); // entry
    out.extend_from_slice(&0u64.to_le_bytes()); // phoff
    out.extend_from_slice(&(shoff as u64).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // flags
    out.extend_from_slice(&64u16.to_le_bytes()); // ehsize
    out.extend_from_slice(&0u16.to_le_bytes()); // phentsize
    out.extend_from_slice(&0u16.to_le_bytes()); // phnum
    out.extend_from_slice(&64u16.to_le_bytes()); // shentsize
    out.extend_from_slice(&(count as u16).to_le_bytes());
    out.extend_from_slice(&((count - 1) as u16).to_le_bytes()); // shstrndx
    out.extend_from_slice(&body);
    out.extend_from_slice(&[0u8; 64]);
    for (i, (offset, len)) in placed.iter().enumerate() {
        let mut sh = [0u8; 64];
        sh[0..4].copy_from_slice(&name_offsets[i].to_le_bytes());
        sh[4..8].copy_from_slice(&1u32.to_le_bytes()); // PROGBITS
        sh[0x18..0x20].copy_from_slice(&(*offset as u64).to_le_bytes());
        sh[0x20..0x28].copy_from_slice(&(*len as u64).to_le_bytes());
        out.extend_from_slice(&sh);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sections_and_survives_damage() {
        let file = build_elf64(&[(".text", b"code"), (".dep-v0", b"payload")]);
        assert_eq!(section(&file, ".dep-v0"), Some(&b"payload"[..]));
        assert_eq!(section(&file, ".text"), Some(&b"code"[..]));
        assert_eq!(section(&file, ".nope"), None);
        for cut in 0..file.len() {
            let _ = section(&file[..cut], ".dep-v0");
        }
        let mut bad = file.clone();
        bad[0x28] = 0xff;
        bad[0x2f] = 0x7f;
        assert_eq!(section(&bad, ".dep-v0"), None);
        assert_eq!(section(b"not elf", ".dep-v0"), None);
    }
}
