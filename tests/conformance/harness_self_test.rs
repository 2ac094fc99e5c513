//! The harness must be able to fail: wrong expectations are reported, not waved through.

use wsproto::{Config, ProtocolError, Role};

use crate::harness::*;

fn check(case: Case) -> Result<(), String> {
    for role in [Role::Server, Role::Client] {
        check_case(&case, role, &Config::default())?;
    }
    Ok(())
}

#[test]
fn encoder_matches_rfc_6455_examples() {
    // §5.7: masked "Hello" with key 37 fa 21 3d, unmasked "Hello", and a 256-byte binary header.
    let (masked, n) = text("Hello").encode(Role::Server, [0x37, 0xfa, 0x21, 0x3d]);
    assert_eq!(
        masked,
        [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
        ]
    );
    assert_eq!(n, 6);
    let (plain, n) = text("Hello").encode(Role::Client, [0x37, 0xfa, 0x21, 0x3d]);
    assert_eq!(plain, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(n, 2);
    let (big, n) = binary(vec![0; 256]).encode(Role::Client, [0; 4]);
    assert_eq!((&big[..4], n), (&[0x82, 0x7e, 0x01, 0x00][..], 4));
    let (huge, n) = binary(vec![0; 65536]).encode(Role::Client, [0; 4]);
    assert_eq!(
        (&huge[..10], n),
        (&[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0][..], 10)
    );
}

#[test]
fn decoder_checks_the_mask_bit_and_completeness() {
    let masked = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let frames = decode_frames(&masked, true).unwrap();
    assert_eq!(frames[0].payload, b"Hello");
    assert!(decode_frames(&masked, false).is_err());
    assert!(decode_frames(&masked[..10], true).is_err());
    assert!(decode_frames(&[0x81, 0x7e, 0x00, 0x05, 1, 2, 3, 4, 5], false).is_err());
}

#[test]
fn the_shared_codec_reads_back_every_length_encoding() {
    use crate::codec::{LenEncoding, RawFrame, decode_frames, encode_frame, parse_header};
    for len in [0usize, 1, 125, 126, 127, 0xFFFF, 0x1_0000] {
        for encoding in [
            LenEncoding::Minimal,
            LenEncoding::Force16,
            LenEncoding::Force64,
        ] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let frame = RawFrame {
                    fin: len % 2 == 0,
                    rsv: 0b101,
                    opcode: 0x2,
                    mask,
                    len_encoding: encoding,
                    payload: (0..len).map(|i| i as u8).collect(),
                };
                let mut wire = Vec::new();
                encode_frame(&frame, &mut wire);
                let h = parse_header(&wire).unwrap();
                assert_eq!((h.fin, h.rsv, h.opcode, h.mask), (frame.fin, 5, 2, mask));
                assert_eq!(h.payload_len, len as u64);
                let minimal = encoding == LenEncoding::Minimal
                    || (encoding == LenEncoding::Force16 && (126..=0xFFFF).contains(&len))
                    || len > 0xFFFF;
                assert_eq!(h.is_minimal(), minimal, "{len} {encoding:?}");
                let decoded = decode_frames(&wire).unwrap();
                assert_eq!(decoded.len(), 1);
                assert_eq!(decoded[0].1, frame.payload);
                // Every strict prefix is incomplete.
                assert!(decode_frames(&wire[..wire.len() - 1]).is_err());
            }
        }
    }
}

#[test]
fn wrong_expectations_are_caught() {
    let good = Case {
        name: "good".into(),
        input: input![text("a"), F::new(CLOSE, [0x03])],
        output: vec![Out::text("a"), Out::Fail(1002)],
        fail: after(1, ProtocolError::CloseFrameTooShort),
    };
    assert_eq!(check(good.clone()), Ok(()));
    let wrong_output = Case {
        output: vec![Out::text("b"), Out::Fail(1002)],
        ..good.clone()
    };
    assert!(check(wrong_output).is_err());
    let wrong_code = Case {
        output: vec![Out::text("a"), Out::Fail(1007)],
        ..good.clone()
    };
    assert!(check(wrong_code).is_err());
    let wrong_chunk = Case {
        fail: after(0, ProtocolError::CloseFrameTooShort),
        ..good.clone()
    };
    assert!(check(wrong_chunk).is_err());
    let wrong_error = Case {
        fail: after(1, ProtocolError::InvalidCloseCode(3)),
        ..good.clone()
    };
    assert!(check(wrong_error).is_err());
    let late = Case {
        output: vec![Out::text("a").after(1), Out::Fail(1002)],
        ..good.clone()
    };
    assert!(check(late).is_err());
    let on_time = Case {
        output: vec![Out::text("a").after(0), Out::Fail(1002).after(1)],
        ..good.clone()
    };
    assert_eq!(check(on_time), Ok(()));
    let missing_frame = Case {
        output: vec![Out::Fail(1002)],
        ..good.clone()
    };
    assert!(check(missing_frame).is_err());
    let no_failure = Case {
        input: input![text("a")],
        output: vec![Out::text("a")],
        fail: after(0, ProtocolError::CloseFrameTooShort),
        ..good
    };
    assert!(check(no_failure).is_err());
}
