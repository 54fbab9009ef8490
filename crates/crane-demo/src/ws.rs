//! `GET /ws`: a WebSocket echo endpoint (RFC 6455), standard library only. Every text or binary message comes back
//! unchanged, pings get pongs, and a close is answered with a close. SHA-1 and base64 for the handshake are written
//! out below (the demo has no dependencies).

use std::io::{self, BufRead, Write};

use crate::http::Request;

/// The GUID RFC 6455 appends to the client's key.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Largest message payload accepted, so a client cannot make the demo allocate without bound.
const MAX_PAYLOAD: u64 = 1024 * 1024;

/// Whether the request asks for a WebSocket.
pub fn is_upgrade(req: &Request) -> bool {
    req.header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
        && req.header("connection").is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")))
}

/// The `101` head answering a client's `Sec-WebSocket-Key`, or None when the key is missing.
pub fn handshake(req: &Request, instance: &str) -> Option<String> {
    let key = req.header("sec-websocket-key")?.trim();
    let accept = base64(&sha1(format!("{key}{GUID}").as_bytes()));
    Some(format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nX-Crane-Instance: {instance}\r\n\r\n"
    ))
}

/// Echoes frames until the client closes or the connection fails.
pub fn echo(reader: &mut impl BufRead, writer: &mut impl Write) -> io::Result<()> {
    loop {
        let mut head = [0u8; 2];
        reader.read_exact(&mut head)?;
        let fin_and_opcode = head[0];
        let opcode = fin_and_opcode & 0x0f;
        let masked = head[1] & 0x80 != 0;
        let mut len = u64::from(head[1] & 0x7f);
        if len == 126 {
            let mut b = [0u8; 2];
            reader.read_exact(&mut b)?;
            len = u64::from(u16::from_be_bytes(b));
        } else if len == 127 {
            let mut b = [0u8; 8];
            reader.read_exact(&mut b)?;
            len = u64::from_be_bytes(b);
        }
        if len > MAX_PAYLOAD {
            write_frame(writer, 0x88, &close_payload(1009, "message too big"))?;
            return Ok(());
        }
        let mut mask = [0u8; 4];
        if masked {
            reader.read_exact(&mut mask)?;
        }
        let mut payload = vec![0u8; len as usize];
        reader.read_exact(&mut payload)?;
        if masked {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
        }
        match opcode {
            // Continuation, text and binary frames are echoed as they came (fragments stay fragments).
            0x0..=0x2 => write_frame(writer, fin_and_opcode, &payload)?,
            0x8 => {
                write_frame(writer, 0x88, &payload)?;
                return Ok(());
            }
            0x9 => write_frame(writer, 0x8a, &payload)?,
            0xa => {}
            _ => {
                write_frame(writer, 0x88, &close_payload(1002, "unknown opcode"))?;
                return Ok(());
            }
        }
    }
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload
}

/// Writes one unmasked frame (servers never mask).
fn write_frame(writer: &mut impl Write, first: u8, payload: &[u8]) -> io::Result<()> {
    let mut frame = vec![first];
    match payload.len() {
        n if n < 126 => frame.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    writer.write_all(&frame)?;
    writer.flush()
}

/// SHA-1 (FIPS 180-4), only for the handshake's accept value.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in message.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (slot, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *slot = slot.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (i, v) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_value_of_the_rfc_example() {
        // RFC 6455 §1.3.
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        assert_eq!(base64(&sha1(format!("{key}{GUID}").as_bytes())), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
    }

    #[test]
    fn a_masked_text_frame_is_echoed_unmasked_and_close_ends() {
        let mask = [1u8, 2, 3, 4];
        let mut input = vec![0x81, 0x80 | 5];
        input.extend_from_slice(&mask);
        input.extend(b"hello".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        input.extend_from_slice(&[0x88, 0x80, 0, 0, 0, 0]);
        let mut out = Vec::new();
        echo(&mut io::Cursor::new(input), &mut out).unwrap();
        assert_eq!(out, [&[0x81, 5][..], b"hello", &[0x88, 0]].concat());
    }
}
