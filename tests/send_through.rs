//! `send_binary_through` / `send_text_through`: the write-through send. What the writer takes
//! and what stays queued make the same byte stream a queued send makes; the waiting output
//! goes first however many runs it has; messages that cannot be written through are queued
//! and the writer is never called. (`roundtrip.rs` mixes these sends into its property tests.)

mod common;

use bytes::Bytes;
use common::*;
use wsproto::{CloseCode, Config, Connection, Event, Message, Role, SendError, State, Utf8Bytes};

/// A writer into `wire` that takes at most `take` bytes per call; counts its calls.
fn writer<'a>(
    wire: &'a mut Vec<u8>,
    take: usize,
    calls: &'a mut usize,
) -> impl FnMut(&[&[u8]]) -> usize + 'a {
    move |runs: &[&[u8]]| {
        *calls += 1;
        let mut left = take;
        for run in runs {
            let n = left.min(run.len());
            wire.extend_from_slice(&run[..n]);
            left -= n;
        }
        take - left
    }
}

/// The events a client gets from `wire`.
fn client_events(wire: &[u8]) -> Vec<Event> {
    let mut client = conn(Role::Client, Config::default());
    client.receive(wire);
    events(&mut client)
}

#[test]
fn a_large_server_message_goes_straight_to_the_writer() {
    let mut server = conn(Role::Server, Config::default());
    let payload = pattern(100_000);
    let (mut wire, mut calls) = (Vec::new(), 0);
    let written = server
        .send_binary_through(&payload, writer(&mut wire, usize::MAX, &mut calls))
        .unwrap();
    assert_eq!(calls, 1, "header and payload in one call");
    assert_eq!(written, 10 + payload.len());
    assert_eq!(
        server.buffered_output(),
        0,
        "nothing was copied into the output"
    );
    assert_eq!(client_events(&wire), [Event::Binary(Bytes::from(payload))]);
}

#[test]
fn what_the_writer_leaves_is_queued_after_it_at_every_cut() {
    let text = mixed_text(5000);
    let queued_before = b"before";
    for take in [0, 1, 3, 4, 5, 9, 10, 11, 2000, 5009, 5010, 5011] {
        let mut server = conn(Role::Server, Config::default());
        server.send_binary(queued_before).unwrap();
        let (mut wire, mut calls) = (Vec::new(), 0);
        let written = server
            .send_text_through(&text, writer(&mut wire, take, &mut calls))
            .unwrap();
        let total = 2 + queued_before.len() + 4 + text.len();
        assert_eq!(written, take.min(total), "take {take}");
        assert_eq!(calls, 1, "a short write is not retried (take {take})");
        assert_eq!(server.buffered_output(), total - written);
        wire.extend_from_slice(&take_output(&mut server));
        assert_eq!(
            client_events(&wire),
            [
                Event::Binary(Bytes::from_static(queued_before)),
                Event::Text(Utf8Bytes::from(text.as_str())),
            ],
            "take {take}"
        );
    }
}

#[test]
fn many_waiting_runs_are_written_before_the_payload() {
    let mut server = conn(Role::Server, Config::default());
    let mut expected = Vec::new();
    for i in 0..12u8 {
        server.send_text("small").unwrap();
        expected.push(Event::Text(Utf8Bytes::from_static("small")));
        let shared = Bytes::from(vec![i; 5000]);
        server.send(Message::Binary(shared.clone())).unwrap();
        expected.push(Event::Binary(shared));
    }
    let waiting = server.buffered_output();
    let payload = pattern(70_000);
    expected.push(Event::Binary(Bytes::from(payload.clone())));
    let (mut wire, mut calls) = (Vec::new(), 0);
    let written = server
        .send_binary_through(&payload, writer(&mut wire, usize::MAX, &mut calls))
        .unwrap();
    // 24 waiting runs, at most 8 slices a call: the payload joins the last call.
    assert!(calls >= 4, "{calls} calls");
    assert_eq!(written, waiting + 10 + payload.len());
    assert_eq!(server.buffered_output(), 0);
    assert_eq!(client_events(&wire), expected);
}

#[test]
fn a_writer_claiming_more_than_it_was_given_is_held_to_what_it_was_given() {
    let mut server = conn(Role::Server, Config::default());
    let payload = pattern(8000);
    let mut wire = Vec::new();
    let written = server
        .send_binary_through(&payload, |runs| {
            for run in runs {
                wire.extend_from_slice(run);
            }
            usize::MAX
        })
        .unwrap();
    assert_eq!(written, 4 + payload.len());
    assert_eq!(server.buffered_output(), 0);
    assert_eq!(client_events(&wire), [Event::Binary(Bytes::from(payload))]);
}

/// Sends `payload` through on `c`; asserts the writer was not called and the message was
/// queued in full.
fn assert_queued_not_written(c: &mut Connection, payload: &[u8]) {
    let before = c.buffered_output();
    let written = c
        .send_binary_through(payload, |_| panic!("the writer was called"))
        .unwrap();
    assert_eq!(written, 0);
    assert!(c.buffered_output() > before);
}

#[test]
fn what_cannot_be_written_through_is_queued_as_send_binary_queues_it() {
    let payload = pattern(10_000);
    // A client masks: the payload is copied anyway. Keys from the same seed: the same bytes.
    let mut through = conn(Role::Client, Config::default());
    let mut queued = conn(Role::Client, Config::default());
    assert_queued_not_written(&mut through, &payload);
    queued.send_binary(&payload).unwrap();
    assert_eq!(take_output(&mut through), take_output(&mut queued));

    // Shorter than the zero-copy threshold: queued (small messages coalesce in the output).
    let mut server = conn(Role::Server, Config::default().zero_copy_threshold(20_000));
    assert_queued_not_written(&mut server, &payload);
    let frames = take_frames(&mut server);
    assert_eq!((frames.len(), &frames[0].payload), (1, &payload));

    // Split at max_send_frame_size: queued as its frames.
    let mut server = conn(Role::Server, Config::default().max_send_frame_size(4096));
    assert_queued_not_written(&mut server, &payload);
    let frames = take_frames(&mut server);
    assert_eq!(frames.len(), 3);
    assert!(!frames[0].fin && frames[2].fin);
}

#[cfg(feature = "deflate")]
#[test]
fn a_compressed_message_is_queued_compressed() {
    use wsproto::extensions::deflate::DeflateConfig;
    let params = DeflateConfig::default().accept_offer([]).unwrap().unwrap();
    let mut server = conn(Role::Server, Config::default()).with_deflate(&params);
    let payload = vec![b'a'; 50_000];
    assert_queued_not_written(&mut server, &payload);
    let frames = take_frames(&mut server);
    assert_eq!(frames[0].rsv, 4, "RSV1: compressed");
    assert!(frames[0].payload.len() < payload.len());
}

#[test]
fn errors_are_send_binary_s_and_nothing_is_written() {
    let mut server = conn(Role::Server, Config::default());
    server.send_binary_fragment(b"part", false).unwrap();
    let before = server.buffered_output();
    let result = server.send_binary_through(&pattern(5000), |_| panic!("the writer was called"));
    assert_eq!(result, Err(SendError::MessageInProgress));
    assert_eq!(server.buffered_output(), before);

    let mut server = conn(Role::Server, Config::default());
    server.close(CloseCode::NORMAL, "bye").unwrap();
    let result = server.send_text_through(&"x".repeat(5000), |_| panic!("the writer was called"));
    assert_eq!(result, Err(SendError::Closed));
}

#[test]
fn the_closing_handshake_follows_a_partly_written_message() {
    let mut server = conn(Role::Server, Config::default());
    let payload = pattern(20_000);
    let (mut wire, mut calls) = (Vec::new(), 0);
    server
        .send_binary_through(&payload, writer(&mut wire, 7000, &mut calls))
        .unwrap();
    server.close(CloseCode::NORMAL, "done").unwrap();
    assert!(
        server.has_unsent_data(),
        "the rest of the message still waits"
    );
    wire.extend_from_slice(&take_output(&mut server));
    assert!(!server.has_unsent_data());

    let mut client = conn(Role::Client, Config::default());
    client.receive(&wire);
    let got = events(&mut client);
    assert_eq!(got[0], Event::Binary(Bytes::from(payload)));
    assert!(matches!(got[1], Event::Close(_)));
    // The client's close reply ends the handshake at the server.
    server.receive(&take_output(&mut client));
    let got = events(&mut server);
    assert!(matches!(got[..], [Event::Close(_)]), "{got:?}");
    assert_eq!(server.state(), State::Closed);
    assert!(server.should_close_transport());
}
