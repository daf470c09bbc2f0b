//! Masking (RFC 6455 §5.3): XOR with a 4-byte key, eight bytes at a time.

/// XORs `data` with `key`, starting at byte `offset` of the key cycle (so a payload may
/// be unmasked in pieces as it arrives). Masking and unmasking are the same operation.
///
/// ```
/// use squall::websocket::frame::apply_mask;
/// let key = [1, 2, 3, 4];
/// let mut data = *b"hello";
/// apply_mask(&mut data, key, 0);
/// apply_mask(&mut data[..2], key, 0);
/// apply_mask(&mut data[2..], key, 2);
/// assert_eq!(&data, b"hello");
/// ```
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let mut k = [0u8; 8];
    for (i, b) in k.iter_mut().enumerate() {
        *b = key[(offset + i) % 4];
    }
    let word = u64::from_ne_bytes(k);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut v = [0u8; 8];
        v.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(v) ^ word).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= k[i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_bytewise_xor_at_every_offset_and_length() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for offset in 0..4 {
            for len in 0..40 {
                let orig: Vec<u8> = (0..len as u8).collect();
                let mut fast = orig.clone();
                apply_mask(&mut fast, key, offset);
                let slow: Vec<u8> = orig
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ key[(offset + i) % 4])
                    .collect();
                assert_eq!(fast, slow, "offset {offset} len {len}");
            }
        }
    }

    #[test]
    fn rfc_example_hello() {
        // RFC 6455 §5.7: a masked "Hello" from client to server.
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&payload, b"Hello");
    }
}
