//! A structural check of an ELF shared object before it is handed to the dynamic loader.
//!
//! `dlopen` maps segments straight from the file: a truncated file (an operator's copy still
//! in progress) can map pages past the end of the file, and the first touch of them kills the
//! process with SIGBUS. So before loading, every table and loadable segment must lie inside
//! the file, and the file must be a shared object for this machine.

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const ET_DYN: u16 = 3;

#[cfg(target_arch = "x86_64")]
const HOST_MACHINE: Option<u16> = Some(62);
#[cfg(target_arch = "aarch64")]
const HOST_MACHINE: Option<u16> = Some(183);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const HOST_MACHINE: Option<u16> = None;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn within(len: u64, offset: u64, size: u64) -> bool {
    offset.checked_add(size).is_some_and(|end| end <= len)
}

/// Checks the bytes of a would-be plugin; the error says what is wrong.
pub fn check_shared_object(bytes: &[u8]) -> Result<(), String> {
    let len = bytes.len() as u64;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let short = || "ELF header cut short".to_string();
    let e_type = u16_at(bytes, 16).ok_or_else(short)?;
    if e_type != ET_DYN {
        return Err(format!("ELF type {e_type} is not a shared object"));
    }
    let machine = u16_at(bytes, 18).ok_or_else(short)?;
    if let Some(host) = HOST_MACHINE {
        if machine != host {
            return Err(format!(
                "built for ELF machine {machine}, this host is {host}"
            ));
        }
    }
    let phoff = u64_at(bytes, 32).ok_or_else(short)?;
    let shoff = u64_at(bytes, 40).ok_or_else(short)?;
    let phentsize = u64::from(u16_at(bytes, 54).ok_or_else(short)?);
    let phnum = u64::from(u16_at(bytes, 56).ok_or_else(short)?);
    let shentsize = u64::from(u16_at(bytes, 58).ok_or_else(short)?);
    let shnum = u64::from(u16_at(bytes, 60).ok_or_else(short)?);
    let truncated = |what: &str, off: u64, size: u64| {
        format!(
            "incomplete file: {what} at bytes {off}..{} lies past its end ({len} bytes); was it still being copied?",
            off.saturating_add(size)
        )
    };
    if phentsize < 56 || !within(len, phoff, phnum * phentsize) {
        return Err(truncated(
            "the program header table",
            phoff,
            phnum * phentsize,
        ));
    }
    if shoff != 0 && !within(len, shoff, shnum * shentsize) {
        return Err(truncated(
            "the section header table",
            shoff,
            shnum * shentsize,
        ));
    }
    for i in 0..phnum {
        let at = (phoff + i * phentsize) as usize;
        let p_type = u32_at(bytes, at).ok_or_else(short)?;
        if p_type != PT_LOAD && p_type != PT_DYNAMIC {
            continue;
        }
        let offset = u64_at(bytes, at + 8).ok_or_else(short)?;
        let filesz = u64_at(bytes, at + 32).ok_or_else(short)?;
        if !within(len, offset, filesz) {
            return Err(truncated("a loadable segment", offset, filesz));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_elf_and_short_files() {
        assert_eq!(
            check_shared_object(b"hello").unwrap_err(),
            "not an ELF file"
        );
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(b"\x7fELF");
        header[4] = 2;
        header[5] = 1;
        header[16] = 2; // ET_EXEC
        assert!(check_shared_object(&header)
            .unwrap_err()
            .contains("not a shared object"));
    }

    #[test]
    fn accepts_this_test_binarys_libc_and_rejects_a_truncated_copy() {
        // Any shared object of the machine will do: the C library the test is linked with.
        let libc = [
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib/aarch64-linux-gnu/libc.so.6",
            "/usr/lib/libc.so.6",
        ]
        .iter()
        .find_map(|p| std::fs::read(p).ok());
        let libc = libc.expect("a C library to test with");
        check_shared_object(&libc).unwrap();
        let err = check_shared_object(&libc[..libc.len() / 2]).unwrap_err();
        assert!(err.contains("incomplete file"), "{err}");
    }
}
