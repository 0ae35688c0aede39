//! Wire tests of the raw HTTP/1.1 streaming path against an in-process fake engine.
//!
//! The fake engine (`support/`) answers on a unix socket with exactly the bytes each test
//! chooses, so these tests feed adversarial bodies through the real socket path: frames split
//! at every byte offset by HTTP chunk boundaries, garbage stream types, truncated headers,
//! NDJSON split mid-object, chunk extensions, `\n`-only line endings, hijacked connections with
//! bytes after the head, bodies cut mid-chunk, and idle timeouts. They also assert the exact
//! bytes of the requests the raw path writes.

mod support;

use std::time::Duration;

use bytes::Bytes;
use engine_api::stream::{Framing, LineEnd, LogChunk, StreamKind};
use engine_api::transport::raw::{self, BodyFraming, RawBody, RawOptions, RawRequest};
use engine_api::Error;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use support::{chunked, frames, head_200, Act, FakeEngine};

const MUX: &str = "Content-Type: application/vnd.docker.multiplexed-stream";

fn opts() -> RawOptions {
    RawOptions::new("unix:///fake.sock")
}

/// Collects a log stream into (stdout, stderr) and the error that ended it, if any.
async fn drain_logs(mut logs: engine_api::stream::LogStream) -> (Vec<u8>, Vec<u8>, Option<Error>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    loop {
        match logs.next_chunk().await {
            Ok(Some(LogChunk { stream, data })) => match stream {
                StreamKind::Stderr => err.extend_from_slice(&data),
                _ => out.extend_from_slice(&data),
            },
            Ok(None) => return (out, err, None),
            Err(e) => return (out, err, Some(e)),
        }
    }
}

async fn logs_request(engine: &FakeEngine, tty: bool) -> engine_api::stream::LogStream {
    let response = raw::send(
        engine.connect().await,
        RawRequest::get("/v1.41/containers/c1/logs?stdout=1&stderr=1"),
        &opts(),
    )
    .await
    .unwrap();
    response.into_log_stream(tty)
}

#[tokio::test]
async fn frames_split_at_every_offset_by_chunk_boundaries() {
    let wire = frames(&[
        (1, b"first line\n"),
        (2, b"an error\n"),
        (1, b""),
        (1, &[0u8, 1, 2, 3, 255]),
        (2, b"x"),
    ]);
    let scripts: Vec<Vec<Act>> = (0..=wire.len())
        .map(|k| {
            let mut response = head_200(&[MUX, "Transfer-Encoding: chunked"]);
            response.extend(chunked(&[&wire[..k], &wire[k..]]));
            vec![Act::Write(response)]
        })
        .chain(std::iter::once({
            // And one HTTP chunk per byte.
            let pieces: Vec<&[u8]> = wire.chunks(1).collect();
            let mut response = head_200(&[MUX, "Transfer-Encoding: chunked"]);
            response.extend(chunked(&pieces));
            vec![Act::Write(response)]
        }))
        .collect();
    let n = scripts.len();
    let engine = FakeEngine::start(scripts);
    for k in 0..n {
        let (out, err, e) = drain_logs(logs_request(&engine, false).await).await;
        assert!(e.is_none(), "split {k}: {e:?}");
        assert_eq!(out, b"first line\n\x00\x01\x02\x03\xff", "split {k}");
        assert_eq!(err, b"an error\nx", "split {k}");
    }
    let received = engine.finish().await;
    assert_eq!(
        received[0].head_text(),
        "GET /v1.41/containers/c1/logs?stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\n\r\n"
    );
}

#[tokio::test]
async fn garbage_stream_type_is_a_protocol_error_after_the_good_frames() {
    let mut body = frames(&[(1, b"good\n")]);
    body.extend_from_slice(&[9, 0, 0, 0, 0, 0, 0, 1, b'?']);
    let mut response = head_200(&[MUX, &format!("Content-Length: {}", body.len())]);
    response.extend(body);
    let engine = FakeEngine::answer(response);
    let (out, _, e) = drain_logs(logs_request(&engine, false).await).await;
    assert_eq!(out, b"good\n");
    let e = e.expect("an error");
    assert!(e.is_protocol(), "{e}");
    assert!(e.to_string().contains("unknown stream type 9"), "{e}");
    engine.finish().await;
}

#[tokio::test]
async fn truncated_frame_header_and_payload_are_errors() {
    for (body, expect) in [
        (frames(&[(1, b"ok")])[..5].to_vec(), "inside a frame header"),
        (
            frames(&[(2, b"abcdef")])[..11].to_vec(),
            "payload bytes missing",
        ),
    ] {
        let mut response = head_200(&[MUX, &format!("Content-Length: {}", body.len())]);
        response.extend(&body);
        let engine = FakeEngine::answer(response);
        let (_, _, e) = drain_logs(logs_request(&engine, false).await).await;
        let e = e.expect("an error");
        assert!(e.is_protocol() && e.to_string().contains(expect), "{e}");
        engine.finish().await;
    }
}

#[tokio::test]
async fn system_error_frames_carry_the_engine_message() {
    let body = frames(&[
        (1, b"partial output\n"),
        (3, b"error from daemon: disk full\n"),
    ]);
    let mut response = head_200(&[MUX, "Transfer-Encoding: chunked"]);
    response.extend(chunked(&[&body[..20], &body[20..]]));
    let engine = FakeEngine::answer(response);
    let (out, _, e) = drain_logs(logs_request(&engine, false).await).await;
    assert_eq!(out, b"partial output\n");
    match e {
        Some(Error::Stream { message }) => assert_eq!(message, "error from daemon: disk full"),
        other => panic!("{other:?}"),
    }
    engine.finish().await;
}

#[tokio::test]
async fn raw_tty_output_is_never_guessed_from_its_bytes() {
    // TTY output that starts with 0x01 and has no newline: passed through as is, at once.
    let tty = b"\x01\x00\x00\x00\x00\x00\x00\x05prompt> ";
    let mut response = head_200(&[
        "Content-Type: application/vnd.docker.raw-stream",
        "Transfer-Encoding: chunked",
    ]);
    response.extend(chunked(&[&tty[..3], &tty[3..]]));
    let engine = FakeEngine::answer(response);
    let logs = logs_request(&engine, true).await;
    assert_eq!(logs.framing(), Framing::Raw);
    let (out, err, e) = drain_logs(logs).await;
    assert!(e.is_none(), "{e:?}");
    assert_eq!(out, tty);
    assert!(err.is_empty());
    engine.finish().await;
}

#[tokio::test]
async fn multiplexed_label_wins_over_tty_and_raw_label_does_not_override_no_tty() {
    let body = frames(&[(2, b"e")]);
    let mut a = head_200(&[MUX, &format!("Content-Length: {}", body.len())]);
    a.extend(&body);
    // Old API versions and Podman say raw-stream for multiplexed output.
    let mut b = head_200(&[
        "Content-Type: application/vnd.docker.raw-stream",
        &format!("Content-Length: {}", body.len()),
    ]);
    b.extend(&body);
    let engine = FakeEngine::start(vec![vec![Act::Write(a)], vec![Act::Write(b)]]);
    let logs = logs_request(&engine, true).await;
    assert_eq!(logs.framing(), Framing::Multiplexed);
    assert_eq!(drain_logs(logs).await.1, b"e");
    let logs = logs_request(&engine, false).await;
    assert_eq!(logs.framing(), Framing::Multiplexed);
    assert_eq!(drain_logs(logs).await.1, b"e");
    engine.finish().await;
}

#[tokio::test]
async fn lines_are_joined_across_frames_and_chunks_per_stream() {
    let body = frames(&[
        (1, b"out one, "),
        (2, b"err one"),
        (1, b"still out one\nout two"),
        (2, b" continues\n"),
        (1, b"\nlast without newline"),
    ]);
    let mut response = head_200(&[MUX, "Transfer-Encoding: chunked"]);
    let pieces: Vec<&[u8]> = body.chunks(5).collect();
    response.extend(chunked(&pieces));
    let engine = FakeEngine::answer(response);
    let mut lines = logs_request(&engine, false).await.lines(1024);
    let mut got = Vec::new();
    while let Some(l) = lines.next_line().await.unwrap() {
        got.push((l.stream, String::from_utf8(l.data.to_vec()).unwrap(), l.end));
    }
    assert_eq!(
        got,
        vec![
            (
                StreamKind::Stdout,
                "out one, still out one".into(),
                LineEnd::Newline
            ),
            (
                StreamKind::Stderr,
                "err one continues".into(),
                LineEnd::Newline
            ),
            (StreamKind::Stdout, "out two".into(), LineEnd::Newline),
            (
                StreamKind::Stdout,
                "last without newline".into(),
                LineEnd::EndOfStream
            ),
        ]
    );
    engine.finish().await;
}

#[derive(Debug, Deserialize, PartialEq)]
struct Progress {
    status: String,
    #[serde(default)]
    id: Option<String>,
}

#[tokio::test]
async fn ndjson_split_mid_object_at_every_offset() {
    let text: &[u8] = b"{\"status\":\"Pulling from library/alpine\",\"id\":\"latest\"}\r\n\
        {\"status\":\"Downloading\",\"id\":\"a1\"}\n\n{\"status\":\"Done\"}\r\n";
    let scripts: Vec<Vec<Act>> = (0..=text.len())
        .map(|k| {
            let mut response = head_200(&[
                "Content-Type: application/json",
                "Transfer-Encoding: chunked",
            ]);
            response.extend(chunked(&[&text[..k], &text[k..]]));
            vec![Act::Write(response)]
        })
        .collect();
    let n = scripts.len();
    let engine = FakeEngine::start(scripts);
    for k in 0..n {
        let response = raw::send(
            engine.connect().await,
            RawRequest::post("/v1.41/images/create?fromImage=alpine&tag=latest"),
            &opts(),
        )
        .await
        .unwrap();
        let items: Vec<Progress> = response
            .into_json_stream::<Progress>("the image pull")
            .map(|r| r.unwrap())
            .collect()
            .await;
        assert_eq!(items.len(), 3, "split {k}");
        assert_eq!(items[1].id.as_deref(), Some("a1"));
        assert_eq!(items[2].status, "Done");
    }
    let received = engine.finish().await;
    assert_eq!(
        received[0].head_text(),
        "POST /v1.41/images/create?fromImage=alpine&tag=latest HTTP/1.1\r\nHost: docker\r\n\
         Content-Length: 0\r\n\r\n"
    );
}

#[tokio::test]
async fn pull_errors_inside_a_200_stream_are_typed() {
    let text = b"{\"status\":\"Pulling fs layer\",\"id\":\"x\"}\n\
        {\"errorDetail\":{\"message\":\"unauthorized: authentication required\"},\"error\":\"unauthorized: authentication required\"}\n";
    let mut response = head_200(&["Transfer-Encoding: chunked"]);
    response.extend(chunked(&[&text[..50], &text[50..]]));
    let engine = FakeEngine::answer(response);
    let response = raw::send(
        engine.connect().await,
        RawRequest::post("/images/create"),
        &opts(),
    )
    .await
    .unwrap();
    let mut stream = response.into_json_stream::<Progress>("the image pull");
    assert_eq!(
        stream.next_item().await.unwrap().unwrap().status,
        "Pulling fs layer"
    );
    let e = stream.next_item().await.unwrap_err();
    assert!(e.is_unauthorized(), "{e}");
    assert_eq!(
        e.engine_message(),
        Some("unauthorized: authentication required")
    );
    assert!(stream.next_item().await.unwrap().is_none());
    engine.finish().await;
}

#[tokio::test]
async fn chunk_extensions_bare_newlines_and_trailers() {
    let mut response = head_200(&["transfer-encoding: gzip, chunked"]).to_vec();
    response.extend_from_slice(
        b"4;name=value\r\nabcd\r\n3 ; x\nefg\n0\r\nX-Checksum: 42\r\nX-Other:  two words \r\n\r\n",
    );
    let engine = FakeEngine::answer(response);
    let response = raw::send(engine.connect().await, RawRequest::get("/x"), &opts())
        .await
        .unwrap();
    assert_eq!(response.framing(), BodyFraming::Chunked);
    let mut body = response.into_body();
    let mut data = Vec::new();
    while let Some(piece) = body.next_data().await.unwrap() {
        data.extend_from_slice(&piece);
    }
    assert_eq!(data, b"abcdefg");
    let trailers = body.trailers().unwrap();
    assert_eq!(trailers["x-checksum"], "42");
    assert_eq!(trailers["X-OTHER"], "two words");
    engine.finish().await;
}

#[tokio::test]
async fn headers_are_case_insensitive_and_heads_may_arrive_byte_by_byte() {
    let response = b"HTTP/1.1 200 OK\r\nCONTENT-TYPE: application/vnd.docker.multiplexed-stream\r\nApi-Version: 1.41\r\ncontent-length: 9\r\n\r\n\x01\0\0\0\0\0\0\x01z";
    let acts: Vec<Act> = response
        .iter()
        .flat_map(|b| [Act::Write(vec![*b]), Act::Pause(Duration::from_micros(50))])
        .collect();
    let engine = FakeEngine::start(vec![acts]);
    let response = raw::send(engine.connect().await, RawRequest::get("/logs"), &opts())
        .await
        .unwrap();
    assert_eq!(response.header("api-version"), Some("1.41"));
    assert_eq!(response.header("Content-Type"), response.content_type());
    assert_eq!(
        response.stream_media_type(),
        Some(engine_api::stream::StreamMediaType::Multiplexed)
    );
    assert_eq!(response.framing(), BodyFraming::Length(9));
    let (out, _, e) = drain_logs(response.into_log_stream(true)).await;
    assert!(e.is_none());
    assert_eq!(out, b"z");
    engine.finish().await;
}

#[tokio::test]
async fn body_cut_mid_chunk_is_connection_lost() {
    let mut response = head_200(&[MUX, "Transfer-Encoding: chunked"]);
    response.extend_from_slice(b"10\r\n\x01\0\0\0\0\0\0\x08abc");
    let mut cut_between = head_200(&[MUX, "Transfer-Encoding: chunked"]);
    cut_between.extend_from_slice(b"9\r\n\x01\0\0\0\0\0\0\x01a\r\n");
    let mut cut_length = head_200(&[MUX, "Content-Length: 100"]);
    cut_length.extend_from_slice(b"\x01\0\0\0\0\0\0\x01a");
    let engine = FakeEngine::start(vec![
        vec![Act::Write(response)],
        vec![Act::Write(cut_between)],
        vec![Act::Write(cut_length)],
    ]);
    for during in [
        "in the middle of a chunk",
        "before the last chunk",
        "before the end of the response body",
    ] {
        let (_, _, e) = drain_logs(logs_request(&engine, false).await).await;
        let e = e.expect("an error");
        assert!(e.is_connection_lost(), "{e}");
        assert!(e.to_string().contains(during), "{e}");
        assert!(e.to_string().contains("unix:///fake.sock"), "{e}");
    }
    engine.finish().await;
}

#[tokio::test]
async fn idle_timeout_fires_between_chunks() {
    let mut response = head_200(&[MUX, "Transfer-Encoding: chunked"]);
    response.extend(b"9\r\n\x01\0\0\0\0\0\0\x01a\r\n");
    let engine = FakeEngine::start(vec![vec![Act::Write(response), Act::HoldUntilClosed]]);
    let options = opts().idle_timeout(Some(Duration::from_millis(150)));
    let response = raw::send(
        engine.connect().await,
        RawRequest::get("/logs?follow=1"),
        &options,
    )
    .await
    .unwrap();
    let mut logs = response.into_log_stream(false);
    assert_eq!(&logs.next_chunk().await.unwrap().unwrap().data[..], b"a");
    let started = std::time::Instant::now();
    let e = logs.next_chunk().await.unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert!(started.elapsed() >= Duration::from_millis(140));
    drop(logs);
    engine.finish().await;
}

#[tokio::test]
async fn head_timeout_fires_when_the_engine_says_nothing() {
    let engine = FakeEngine::start(vec![vec![Act::HoldUntilClosed]]);
    let options = opts().head_timeout(Some(Duration::from_millis(100)));
    let e = raw::send(engine.connect().await, RawRequest::get("/x"), &options)
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    engine.finish().await;
}

#[tokio::test]
async fn upgraded_101_with_leftover_bytes_and_stdin_half_close() {
    let mut upgrade = b"HTTP/1.1 101 UPGRADED\r\n\
        Content-Type: application/vnd.docker.multiplexed-stream\r\n\
        Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        .to_vec();
    // Output that arrives in the same write as the head.
    upgrade.extend(frames(&[(1, b"ready\n")]));
    let engine = FakeEngine::start(vec![vec![
        Act::Write(upgrade),
        Act::ReadToEof,
        Act::Write(frames(&[(1, b"got stdin\n"), (2, b"bye\n")])),
    ]]);
    let request = RawRequest::post("/v1.41/exec/e1/start")
        .header(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        )
        .body(RawBody::bytes(r#"{"Detach":false,"Tty":false}"#))
        .upgrade();
    let response = raw::send(engine.connect().await, request, &opts())
        .await
        .unwrap();
    assert!(response.is_upgraded());
    let framing = Framing::choose(response.stream_media_type(), false);
    let upgraded = response.into_upgraded().unwrap();
    assert_eq!(upgraded.leftover(), &frames(&[(1, b"ready\n")])[..]);
    let (output, mut stdin) = upgraded.split();
    let mut logs = engine_api::stream::LogStream::new(output, framing);
    assert_eq!(
        &logs.next_chunk().await.unwrap().unwrap().data[..],
        b"ready\n"
    );
    stdin.write_all(b"hello from stdin").await.unwrap();
    stdin.shutdown().await.unwrap();
    let mut rest = Vec::new();
    while let Some(c) = logs.next_chunk().await.unwrap() {
        rest.push((c.stream, c.data));
    }
    assert_eq!(
        rest,
        vec![
            (StreamKind::Stdout, Bytes::from_static(b"got stdin\n")),
            (StreamKind::Stderr, Bytes::from_static(b"bye\n")),
        ]
    );
    let received = engine.finish().await;
    assert_eq!(
        received[0].head_text(),
        "POST /v1.41/exec/e1/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n\
         Upgrade: tcp\r\ncontent-type: application/json\r\nContent-Length: 28\r\n\r\n"
    );
    assert_eq!(received[0].body, br#"{"Detach":false,"Tty":false}"#);
    assert_eq!(received[0].after, b"hello from stdin");
}

#[tokio::test]
async fn hijacked_200_without_upgrade_is_a_raw_duplex() {
    let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n$ ";
    let engine = FakeEngine::start(vec![vec![
        Act::Write(head.to_vec()),
        Act::Read(3),
        Act::Write(b"ls\r\nbin etc\r\n$ ".to_vec()),
    ]]);
    let response = raw::send(
        engine.connect().await,
        RawRequest::post("/containers/c/attach?stream=1&stdin=1&stdout=1"),
        &opts(),
    )
    .await
    .unwrap();
    assert_eq!(response.framing(), BodyFraming::UntilClose);
    let mut upgraded = response.into_upgraded().unwrap();
    upgraded.write_all(b"ls\n").await.unwrap();
    let mut out = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut upgraded, &mut out)
        .await
        .unwrap();
    assert_eq!(out, b"$ ls\r\nbin etc\r\n$ ");
    engine.finish().await;
}

#[tokio::test]
async fn a_normal_response_is_not_mistaken_for_a_hijack() {
    let engine = FakeEngine::answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_vec());
    let response = raw::send(
        engine.connect().await,
        RawRequest::post("/x").upgrade(),
        &opts(),
    )
    .await
    .unwrap();
    assert!(response.into_upgraded().unwrap_err().is_protocol());
    engine.finish().await;
}

#[tokio::test]
async fn error_statuses_become_typed_engine_errors() {
    let body = r#"{"message":"No such container: nope"}"#;
    let engine = FakeEngine::answer(
        format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    );
    let response = raw::send(
        engine.connect().await,
        RawRequest::get("/containers/nope/logs"),
        &opts(),
    )
    .await
    .unwrap();
    let e = response.error_for_status().await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.to_string(), "No such container: nope");
    engine.finish().await;
}

#[tokio::test]
async fn request_bodies_stream_with_chunked_encoding() {
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec();
    let engine = FakeEngine::start(vec![
        vec![Act::Write(ok.clone())],
        vec![Act::Write(ok.clone())],
        vec![Act::Write(ok.clone())],
    ]);

    // From an AsyncRead: 64 KiB chunks, never the whole body in memory.
    let request = RawRequest::new(http::Method::PUT, "/containers/c/archive?path=%2Ftmp")
        .header(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-tar"),
        )
        .body(RawBody::reader(std::io::Cursor::new(big.clone())));
    let r = raw::send(engine.connect().await, request, &opts())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // From a Stream of Bytes, with an empty item that must not end the body early.
    let items = vec![
        Ok(Bytes::from_static(b"FROM scratch\n")),
        Ok(Bytes::new()),
        Ok(Bytes::from_static(b"COPY . /\n")),
    ];
    let request =
        RawRequest::post("/build").body(RawBody::stream(futures_util::stream::iter(items)));
    raw::send(engine.connect().await, request, &opts())
        .await
        .unwrap();

    // A sized reader: Content-Length, streamed.
    let request = RawRequest::post("/images/load").body(RawBody::sized_reader(
        std::io::Cursor::new(big.clone()),
        big.len() as u64,
    ));
    raw::send(engine.connect().await, request, &opts())
        .await
        .unwrap();

    let received = engine.finish().await;
    assert_eq!(
        received[0].head_text(),
        "PUT /containers/c/archive?path=%2Ftmp HTTP/1.1\r\nHost: docker\r\n\
         content-type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    assert!(received[0].body.starts_with(b"10000\r\n"));
    assert_eq!(received[0].dechunked_body(), big);
    assert_eq!(
        received[1].body,
        b"d\r\nFROM scratch\n\r\n9\r\nCOPY . /\n\r\n0\r\n\r\n"
    );
    assert!(received[2]
        .head_text()
        .ends_with("Content-Length: 200000\r\n\r\n"));
    assert_eq!(received[2].body, big);
}

#[tokio::test]
async fn an_early_error_answer_beats_the_broken_pipe() {
    // The engine answers 404 before reading an 8 MiB upload, discards a little, and closes.
    let body = r#"{"message":"No such container: gone"}"#;
    let answer = format!(
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let engine = FakeEngine::start(vec![vec![
        Act::Write(answer.into_bytes()),
        Act::DiscardThenClose(256 * 1024),
    ]]);
    let upload = std::io::Cursor::new(vec![0u8; 8 << 20]);
    let request = RawRequest::new(http::Method::PUT, "/containers/gone/archive?path=/")
        .body(RawBody::reader(upload));
    let response = raw::send(engine.connect().await, request, &opts())
        .await
        .unwrap();
    let e = response.error_for_status().await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    engine.finish().await;
}

#[tokio::test]
async fn dropping_a_stream_closes_the_connection() {
    let mut response = head_200(&[MUX, "Transfer-Encoding: chunked"]);
    response.extend(chunked(&[&frames(&[(1, b"first\n")])]));
    let response = response[..response.len() - 5].to_vec(); // no final chunk: a follow stream
    let block = chunked(&[&frames(&[(1, &[b'x'; 1000])])]);
    let block = block[..block.len() - 5].to_vec();
    let engine = FakeEngine::start(vec![vec![
        Act::Write(response),
        Act::WriteUntilClosed(block),
    ]]);
    let mut logs = logs_request(&engine, false).await;
    assert_eq!(
        &logs.next_chunk().await.unwrap().unwrap().data[..],
        b"first\n"
    );
    // Backpressure: without reads the engine soon blocks (the socket buffers fill).
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(logs);
    let received = engine.finish().await;
    // The engine stopped because its writes failed, after a bounded number of blocks.
    assert!(
        received[0].blocks_written < 10_000,
        "{}",
        received[0].blocks_written
    );
}

#[tokio::test]
async fn the_stream_trait_and_the_inherent_method_agree() {
    let body = frames(&[(1, b"a"), (2, b"b"), (1, b"c")]);
    let mut response = head_200(&[MUX, "Transfer-Encoding: chunked"]);
    response.extend(chunked(&[&body]));
    let engine = FakeEngine::answer(response);
    let logs = logs_request(&engine, false).await;
    let chunks: Vec<LogChunk> = logs.map(|c| c.unwrap()).collect().await;
    let tagged: Vec<(StreamKind, &[u8])> = chunks.iter().map(|c| (c.stream, &c.data[..])).collect();
    assert_eq!(
        tagged,
        vec![
            (StreamKind::Stdout, &b"a"[..]),
            (StreamKind::Stderr, &b"b"[..]),
            (StreamKind::Stdout, &b"c"[..]),
        ]
    );
    engine.finish().await;
}

#[tokio::test]
async fn small_frames_are_gathered_in_order_and_large_ones_sliced() {
    // Owned chunks gather consecutive small payloads of one stream; the sequence of streams
    // and bytes is exactly the frames' sequence, whichever API reads it.
    let mut list: Vec<(u8, Vec<u8>)> = Vec::new();
    for i in 0..300u32 {
        let stream = if i % 7 < 5 { 1 } else { 2 };
        let len = if i % 50 == 0 {
            3000
        } else {
            (i % 60) as usize + 1
        };
        list.push((stream, vec![b'a' + (i % 26) as u8; len]));
    }
    let refs: Vec<(u8, &[u8])> = list.iter().map(|(t, p)| (*t, &p[..])).collect();
    let body = frames(&refs);
    // Expected: runs of the same stream merged.
    let mut expected: Vec<(StreamKind, Vec<u8>)> = Vec::new();
    for (t, p) in &list {
        let s = if *t == 1 {
            StreamKind::Stdout
        } else {
            StreamKind::Stderr
        };
        match expected.last_mut() {
            Some((last, bytes)) if *last == s => bytes.extend_from_slice(p),
            _ => expected.push((s, p.clone())),
        }
    }
    let merge = |chunks: Vec<(StreamKind, Vec<u8>)>| {
        let mut out: Vec<(StreamKind, Vec<u8>)> = Vec::new();
        for (s, d) in chunks {
            assert!(!d.is_empty());
            match out.last_mut() {
                Some((last, bytes)) if *last == s => bytes.extend_from_slice(&d),
                _ => out.push((s, d)),
            }
        }
        out
    };
    let pieces: Vec<&[u8]> = body.chunks(77).collect();
    let mut response = head_200(&[MUX, "Transfer-Encoding: chunked"]);
    response.extend(chunked(&pieces));
    let engine = FakeEngine::start(vec![
        vec![Act::Write(response.clone())],
        vec![Act::Write(response)],
    ]);

    let mut logs = logs_request(&engine, false).await;
    let mut owned = Vec::new();
    while let Some(c) = logs.next_chunk().await.unwrap() {
        owned.push((c.stream, c.data.to_vec()));
    }
    let mut logs = logs_request(&engine, false).await;
    let mut borrowed = Vec::new();
    while let Some(c) = logs.next_chunk_ref().await.unwrap() {
        borrowed.push((c.stream, c.data.to_vec()));
    }
    assert!(owned.len() < borrowed.len(), "small frames were gathered");
    assert_eq!(merge(owned), expected);
    assert_eq!(merge(borrowed), expected);
    engine.finish().await;
}
