//! Just enough of the WebAssembly binary format to rewrite two things in a
//! module before it is translated to JavaScript: drop a custom section, and
//! keep only some exports. Every other byte is copied as it is.

use std::fmt;

/// Why a module could not be read; the offset is where reading stopped.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed {
    pub offset: usize,
    pub what: &'static str,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed WebAssembly module at byte {}: {}", self.offset, self.what)
    }
}

const MAGIC: &[u8; 8] = b"\0asm\x01\0\0\0";
const CUSTOM: u8 = 0;
const EXPORT: u8 = 7;

/// One top-level section: its id and its payload (without id and size).
struct Section<'a> {
    id: u8,
    payload: &'a [u8],
}

fn sections(module: &[u8]) -> Result<Vec<Section<'_>>, Malformed> {
    if !module.starts_with(MAGIC) {
        return Err(Malformed { offset: 0, what: "not a version 1 module (bad magic or version)" });
    }
    let mut at = MAGIC.len();
    let mut found = Vec::new();
    while at < module.len() {
        let id = module[at];
        let (size, payload_start) = read_u32(module, at + 1)?;
        let end = payload_start
            .checked_add(size as usize)
            .filter(|end| *end <= module.len())
            .ok_or(Malformed { offset: at, what: "section runs past the end" })?;
        found.push(Section { id, payload: &module[payload_start..end] });
        at = end;
    }
    Ok(found)
}

fn write_module(sections: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    for (id, payload) in sections {
        out.push(*id);
        write_u32(&mut out, payload.len() as u32);
        out.extend_from_slice(payload);
    }
    out
}

/// The name a custom section starts with.
fn custom_name(payload: &[u8]) -> Result<&[u8], Malformed> {
    let (len, start) = read_u32(payload, 0)?;
    payload
        .get(start..start + len as usize)
        .ok_or(Malformed { offset: start, what: "custom section name runs past its section" })
}

/// `module` without the custom sections called `name`.
pub fn without_custom_section(module: &[u8], name: &str) -> Result<Vec<u8>, Malformed> {
    let mut kept = Vec::new();
    for section in sections(module)? {
        if section.id == CUSTOM && custom_name(section.payload)? == name.as_bytes() {
            continue;
        }
        kept.push((section.id, section.payload.to_vec()));
    }
    Ok(write_module(&kept))
}

/// `module` with only the exports whose name `keep` accepts; returns the
/// module and the names dropped. Unexported code is then dead, and the
/// optimizer removes it.
pub fn retain_exports(module: &[u8], keep: impl Fn(&str) -> bool) -> Result<(Vec<u8>, Vec<String>), Malformed> {
    let mut out = Vec::new();
    let mut dropped = Vec::new();
    for section in sections(module)? {
        if section.id != EXPORT {
            out.push((section.id, section.payload.to_vec()));
            continue;
        }
        let data = section.payload;
        let (count, mut at) = read_u32(data, 0)?;
        let mut entries = Vec::new();
        for _ in 0..count {
            let start = at;
            let (len, name_start) = read_u32(data, at)?;
            let name_end = name_start + len as usize;
            let name = data
                .get(name_start..name_end)
                .and_then(|n| std::str::from_utf8(n).ok())
                .ok_or(Malformed { offset: name_start, what: "export name is not UTF-8 within its section" })?;
            // kind (one byte), then the index.
            data.get(name_end).ok_or(Malformed { offset: name_end, what: "export kind missing" })?;
            let (_, end) = read_u32(data, name_end + 1)?;
            if keep(name) {
                entries.push(&data[start..end]);
            } else {
                dropped.push(name.to_string());
            }
            at = end;
        }
        let mut payload = Vec::new();
        write_u32(&mut payload, entries.len() as u32);
        for entry in entries {
            payload.extend_from_slice(entry);
        }
        out.push((EXPORT, payload));
    }
    Ok((write_module(&out), dropped))
}

/// An unsigned LEB128 u32 at `at`; returns it and the offset after it.
fn read_u32(data: &[u8], at: usize) -> Result<(u32, usize), Malformed> {
    let mut value: u32 = 0;
    for i in 0..5 {
        let byte = *data.get(at + i).ok_or(Malformed { offset: at + i, what: "number runs past the end" })?;
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, at + i + 1));
        }
    }
    Err(Malformed { offset: at, what: "number longer than five bytes" })
}

fn write_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str, body: &[u8]) -> Vec<u8> {
        let mut payload = Vec::new();
        write_u32(&mut payload, name.len() as u32);
        payload.extend_from_slice(name.as_bytes());
        payload.extend_from_slice(body);
        payload
    }

    fn exports(names: &[&str]) -> Vec<u8> {
        let mut payload = Vec::new();
        write_u32(&mut payload, names.len() as u32);
        for (i, name) in names.iter().enumerate() {
            write_u32(&mut payload, name.len() as u32);
            payload.extend_from_slice(name.as_bytes());
            payload.push(0); // function
            write_u32(&mut payload, 200 + i as u32); // a two-byte index
        }
        payload
    }

    fn module() -> Vec<u8> {
        write_module(&[
            (1, vec![0]),
            (EXPORT, exports(&["memory", "start_popup", "start_content_script"])),
            (CUSTOM, named("target_features", b"\x01+\x0freference-types")),
            (CUSTOM, named("producers", b"\0")),
        ])
    }

    fn export_names(module: &[u8]) -> Vec<String> {
        let section = sections(module).unwrap().into_iter().find(|s| s.id == EXPORT).unwrap();
        let (count, mut at) = read_u32(section.payload, 0).unwrap();
        (0..count)
            .map(|_| {
                let (len, start) = read_u32(section.payload, at).unwrap();
                let name = String::from_utf8(section.payload[start..start + len as usize].to_vec()).unwrap();
                at = read_u32(section.payload, start + len as usize + 1).unwrap().1;
                name
            })
            .collect()
    }

    #[test]
    fn drops_only_the_named_custom_section() {
        let out = without_custom_section(&module(), "target_features").unwrap();
        let names: Vec<Vec<u8>> = sections(&out)
            .unwrap()
            .iter()
            .filter(|s| s.id == CUSTOM)
            .map(|s| custom_name(s.payload).unwrap().to_vec())
            .collect();
        assert_eq!(names, vec![b"producers".to_vec()]);
        assert_eq!(export_names(&out), ["memory", "start_popup", "start_content_script"]);
    }

    #[test]
    fn keeps_the_exports_asked_for() {
        let (out, dropped) = retain_exports(&module(), |n| n != "start_popup").unwrap();
        assert_eq!(export_names(&out), ["memory", "start_content_script"]);
        assert_eq!(dropped, ["start_popup"]);
        assert_eq!(out.len(), module().len() - "start_popup".len() - 4);
    }

    #[test]
    fn refuses_broken_modules() {
        assert!(without_custom_section(b"not wasm", "x").is_err());
        let mut truncated = module();
        truncated.truncate(truncated.len() - 3);
        assert!(retain_exports(&truncated, |_| true).is_err());
    }

    #[test]
    fn leb128_round_trips() {
        for value in [0, 1, 127, 128, 300, 16_384, u32::MAX] {
            let mut buf = Vec::new();
            write_u32(&mut buf, value);
            assert_eq!(read_u32(&buf, 0).unwrap(), (value, buf.len()));
        }
    }
}
