//! Deployment tests (issue 14): nginx in front of our servers, the `chat` example scaled out
//! over Redis behind nginx, and the `wsd` example.
//!
//! They run real programs: Debian's `nginx` and `redis-server`, and the example binaries
//! (`target/<profile>/examples/{chat,wsd}`). So they are `#[ignore]`d in the plain test run;
//! `.ci/deploy.sh` installs the tools, builds the examples and runs them with
//!
//! ```text
//! cargo build --all-features --examples && cargo test --all-features --test deploy -- --ignored
//! ```
//!
//! Every port is picked free at run time; nginx runs in the foreground as a single process with
//! its own prefix, configuration, pid and logs in a temporary directory, never as the system
//! service. Processes are killed when their guard is dropped.
#![cfg(all(feature = "tokio", unix))]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use wsproto::driver::tokio::{MaybeTlsStream, WebSocketStream};
use wsproto::driver::{Error, Options};
use wsproto::handshake::{AcceptOptions, ClientRequest};
use wsproto::{CloseCode, Config, Message};

// ----- running programs -----

/// An example binary, built by `cargo build --examples` (or `cargo test`) next to this test.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/deploy-<hash> → target/<profile>/examples/<name>
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --all-features --examples` first (.ci/deploy.sh does)",
        path.display()
    );
    path
}

/// A program from `PATH` or the sbin directories (nginx lives in /usr/sbin).
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed (apt-get install -y {name})"))
}

/// A free loopback port (the listener is closed again; nobody else takes it in the meantime on
/// a test machine).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A private temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "wsproto-deploy-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits until something accepts connections on `port`.
async fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited at startup: {status}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts an example that prints a `... listening on SCHEME://ADDR/` line; returns it with
/// the port it listens on. Its later output (stdout and stderr) goes to the test output.
async fn start_example(name: &'static str, args: &[&str]) -> (Child, u16) {
    let mut child = Command::new(example(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut errors = BufReader::new(child.stderr.take().expect("piped")).lines();
    let port = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.expect("stdout") {
            if let Some(addr) = line.split("listening on ").nth(1) {
                let addr = addr
                    .split("://")
                    .nth(1)
                    .expect("a URL")
                    .trim_end_matches('/');
                return addr
                    .rsplit(':')
                    .next()
                    .expect("a port")
                    .parse()
                    .expect("a port");
            }
        }
        panic!("{name} exited before listening");
    })
    .await
    .unwrap_or_else(|_| panic!("{name} did not start"));
    // The rest of its output goes to the test's (captured) output, shown when a test fails.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[{name} {port}] {line}");
        }
    });
    tokio::spawn(async move {
        while let Ok(Some(line)) = errors.next_line().await {
            eprintln!("[{name} {port}] {line}");
        }
    });
    (child, port)
}

/// nginx in the foreground (`daemon off`, `master_process off`: one process, nothing left when
/// it is killed) with everything under a temporary prefix.
struct Nginx {
    _child: Child,
    port: u16,
    _dir: TempDir,
}

/// deploy/nginx/websocket.conf with its ports replaced: nginx listens on `listen`, the two
/// upstream servers are `backends`.
fn site_config(listen: u16, backends: [u16; 2]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx/websocket.conf");
    let conf = std::fs::read_to_string(&path).expect("deploy/nginx/websocket.conf");
    for port in ["127.0.0.1:8080;", "127.0.0.1:8081 ", "127.0.0.1:8082 "] {
        assert!(conf.contains(port), "the config no longer has {port}");
    }
    conf.replace("127.0.0.1:8080;", &format!("127.0.0.1:{listen};"))
        .replace("127.0.0.1:8081 ", &format!("127.0.0.1:{} ", backends[0]))
        .replace("127.0.0.1:8082 ", &format!("127.0.0.1:{} ", backends[1]))
}

impl Nginx {
    /// Runs nginx with `site` (an `http { }`-context file such as [`site_config`]'s).
    async fn start(site: &str, listen: u16) -> Nginx {
        let dir = TempDir::new("nginx");
        let d = dir.0.display();
        std::fs::write(dir.0.join("site.conf"), site).expect("site.conf");
        let main = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             include {d}/site.conf;\n}}\n"
        );
        std::fs::write(dir.0.join("nginx.conf"), main).expect("nginx.conf");
        let mut child = Command::new(tool("nginx"))
            .arg("-p")
            .arg(&dir.0)
            .arg("-c")
            .arg(dir.0.join("nginx.conf"))
            .arg("-e")
            .arg(dir.0.join("error.log"))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nginx starts");
        wait_for_port(listen, &mut child, "nginx").await;
        Nginx {
            _child: child,
            port: listen,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }
}

/// A server of ours on a free port: echoes text and binary messages (up to 32 MiB).
async fn echo_backend() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let options = Options::default().config(
        Config::default()
            .max_message_size(32 << 20)
            .max_frame_size(32 << 20),
    );
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let options = options.clone();
            tokio::spawn(async move {
                let Ok(mut ws) = WebSocketStream::accept_with_options_and(stream, &options, |_| {
                    Ok(AcceptOptions::new())
                })
                .await
                else {
                    return;
                };
                while let Ok(message) = ws.read().await {
                    if let Message::Text(_) | Message::Binary(_) = message
                        && ws.send(message).await.is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    port
}

/// Reads the next data or close message, skipping pings and pongs.
async fn next_message<S>(ws: &mut WebSocketStream<S>) -> Result<Message, Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.read()).await {
            Err(_) => panic!("no message within 30 s"),
            Ok(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Ok(other) => return other,
        }
    }
}

// ----- behind nginx -----

#[tokio::test]
#[ignore = "needs nginx; run by .ci/deploy.sh"]
async fn nginx_proxies_messages_big_messages_pings_and_close() {
    let backends = [echo_backend().await, echo_backend().await];
    let listen = free_port();
    let nginx = Nginx::start(&site_config(listen, backends), listen).await;

    // The default client: with the deflate feature it offers permessage-deflate, and the
    // offer and the answer cross the proxy.
    let (mut ws, response) = WebSocketStream::connect(&nginx.url())
        .await
        .expect("upgrade");
    assert_eq!(response.status(), 101);
    #[cfg(feature = "deflate")]
    assert_eq!(response.extensions()[0].name, "permessage-deflate");
    ws.send(Message::text("hello through nginx")).await.unwrap();
    assert_eq!(
        next_message(&mut ws).await.unwrap(),
        Message::text("hello through nginx")
    );
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert!(matches!(
        next_message(&mut ws).await.unwrap(),
        Message::Close(_)
    ));

    // Uncompressed for the big message (compressing 16 MiB twice in a debug build is slow and
    // beside the point here).
    let options = Options::default();
    #[cfg(feature = "deflate")]
    let options = options.deflate(None);
    let (mut ws, _) = WebSocketStream::connect_with_options(&nginx.url(), &options)
        .await
        .expect("upgrade");

    // 16 MiB in one message, in both directions.
    let big: Vec<u8> = (0..16u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let started = Instant::now();
    ws.send(Message::binary(big.clone())).await.unwrap();
    match next_message(&mut ws).await.unwrap() {
        Message::Binary(echoed) => {
            assert_eq!(echoed.len(), big.len());
            assert!(echoed == big, "the 16 MiB message came back changed");
        }
        other => panic!("expected the 16 MiB message back, got {other:?}"),
    }
    eprintln!("16 MiB echoed through nginx in {:?}", started.elapsed());

    // A ping crosses the proxy and the backend's pong comes back with its payload.
    ws.send(Message::Ping(bytes::Bytes::from_static(b"are you there")))
        .await
        .unwrap();
    let pong = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.read())
            .await
            .expect("a pong")
            .unwrap()
        {
            Message::Pong(payload) => break payload,
            Message::Ping(_) => continue,
            other => panic!("expected a pong, got {other:?}"),
        }
    };
    assert_eq!(&pong[..], b"are you there");

    // A clean close: our close, the backend's reply, then the end of the stream.
    ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    match next_message(&mut ws).await.unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::NORMAL),
        other => panic!("expected the close reply, got {other:?}"),
    }
    assert!(matches!(ws.read().await, Err(Error::Closed)));
}

#[tokio::test]
#[ignore = "needs nginx; run by .ci/deploy.sh"]
async fn nginx_without_the_upgrade_headers_fails_with_a_clear_error() {
    let backends = [echo_backend().await, echo_backend().await];
    let listen = free_port();
    let site: String = site_config(listen, backends)
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            !line.starts_with("proxy_set_header Upgrade")
                && !line.starts_with("proxy_set_header Connection")
        })
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(
        !site.contains("$connection_upgrade;"),
        "both lines are gone"
    );
    let nginx = Nginx::start(&site, listen).await;

    let error = WebSocketStream::connect(&nginx.url())
        .await
        .expect_err("no upgrade without the headers");
    let message = error.to_string();
    eprintln!("the client says: {message}");
    assert!(
        matches!(error, Error::Rejected { status: 400, .. }),
        "{error:?}"
    );
    assert!(
        message.contains("without upgrading to WebSocket"),
        "{message}"
    );
    // The backend's reason comes through the proxy.
    assert!(
        message.contains("missing header field Upgrade"),
        "{message}"
    );
}

#[tokio::test]
#[ignore = "needs nginx; run by .ci/deploy.sh"]
async fn nginx_read_timeout_closes_idle_connections_unless_keepalive_pings() {
    let backends = [echo_backend().await, echo_backend().await];
    let listen = free_port();
    let site = site_config(listen, backends);
    assert!(site.contains("proxy_read_timeout 60s;"));
    let nginx = Nginx::start(
        &site.replace("proxy_read_timeout 60s;", "proxy_read_timeout 2s;"),
        listen,
    )
    .await;

    // With pings every 500 ms (well under the 2 s timeout) the connection survives 4 s idle.
    let keepalive = Options::default().config(
        Config::default()
            .keepalive_interval(Some(Duration::from_millis(500)))
            .keepalive_timeout(Duration::from_secs(5)),
    );
    let (mut alive, _) = WebSocketStream::connect_with_options(&nginx.url(), &keepalive)
        .await
        .unwrap();
    // Without them, nginx ends it after 2 s of silence from the backend.
    let (mut idle, _) = WebSocketStream::connect(&nginx.url()).await.unwrap();

    let started = Instant::now();
    let idle_read = tokio::spawn(async move {
        let result = tokio::time::timeout(Duration::from_secs(6), idle.read()).await;
        (result, started.elapsed())
    });
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        match tokio::time::timeout_at(until.into(), alive.read()).await {
            Err(_) => break,
            Ok(Ok(Message::Pong(_) | Message::Ping(_))) => {}
            Ok(other) => panic!("the kept-alive connection: {other:?}"),
        }
    }
    alive.send(Message::text("still here")).await.unwrap();
    assert_eq!(
        next_message(&mut alive).await.unwrap(),
        Message::text("still here")
    );

    let (result, after) = idle_read.await.unwrap();
    let result = result.expect("nginx closes the idle connection within 6 s");
    assert!(result.is_err(), "the idle connection: {result:?}");
    assert!(
        after >= Duration::from_millis(1500),
        "closed after {after:?}, before proxy_read_timeout"
    );
    eprintln!(
        "idle connection closed by nginx after {after:?}: {:?}",
        result.unwrap_err()
    );
}

// ----- scaled out over Redis -----

/// A `redis-server` in the foreground on a free port, without persistence.
async fn start_redis() -> (Child, u16) {
    let port = free_port();
    (start_redis_on(port).await, port)
}

async fn start_redis_on(port: u16) -> Child {
    let mut child = Command::new(tool("redis-server"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server starts");
    wait_for_port(port, &mut child, "redis-server").await;
    child
}

/// A chat client speaking to the `chat` example.
struct ChatClient {
    url: String,
    ws: WebSocketStream<MaybeTlsStream>,
    /// The name the server gave it (`guest3@PORT`: PORT is the instance's).
    name: String,
}

impl ChatClient {
    /// Connects, retrying with back-off as the page does, and reads the name.
    async fn join(url: &str) -> ChatClient {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut delay = Duration::from_millis(100);
        loop {
            match Self::try_join(url).await {
                Ok(client) => return client,
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot join {url}: {e}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    async fn try_join(url: &str) -> Result<ChatClient, Error> {
        let (mut ws, _) = WebSocketStream::connect(url).await?;
        loop {
            if let Message::Text(text) = next_message(&mut ws).await?
                && let Some(name) = text.strip_prefix("{\"text\":\"you are ")
            {
                let name = name.trim_end_matches("\"}").to_string();
                return Ok(ChatClient {
                    url: url.to_string(),
                    ws,
                    name,
                });
            }
        }
    }

    /// The instance's port, from the name.
    fn instance(&self) -> u16 {
        self.name.rsplit('@').next().unwrap().parse().unwrap()
    }

    async fn say(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// Reads until every one of `lines` (`(from, text)`) has arrived; notices are skipped.
    async fn hears(&mut self, lines: &[(String, String)]) {
        let mut missing: Vec<String> = lines
            .iter()
            .map(|(from, text)| format!("{{\"from\":\"{from}\",\"text\":\"{text}\"}}"))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !missing.is_empty() {
            let message = tokio::time::timeout_at(deadline.into(), self.ws.read())
                .await
                .unwrap_or_else(|_| panic!("{} still waits for {missing:?}", self.name))
                .unwrap_or_else(|e| panic!("{}: {e} while waiting for {missing:?}", self.name));
            if let Message::Text(text) = message {
                missing.retain(|m| m != text.as_str());
            }
        }
    }

    /// Waits for the connection to fail (its instance was killed), then joins again.
    async fn rejoin(&mut self) {
        let ended = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let Err(e) = self.ws.read().await {
                    return e;
                }
            }
        })
        .await
        .expect("the killed instance's connection ends");
        eprintln!("{} lost its connection ({ended}); reconnecting", self.name);
        *self = ChatClient::join(&self.url).await;
    }
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Every client says one line, and every client hears every line.
async fn round(clients: &mut [ChatClient], label: &str) {
    let mut lines = Vec::new();
    for (i, client) in clients.iter_mut().enumerate() {
        let text = format!("{label}-{i}");
        client.say(&text).await;
        lines.push((client.name.clone(), text));
    }
    for client in clients.iter_mut() {
        client.hears(&lines).await;
    }
}

#[tokio::test]
#[ignore = "needs nginx and redis-server; run by .ci/deploy.sh"]
async fn chat_instances_share_rooms_through_redis_behind_nginx() {
    let (mut redis, redis_port) = start_redis().await;
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    let (port_a, port_b) = (free_port(), free_port());
    let args = |port: u16| {
        [
            format!("127.0.0.1:{port}"),
            "--redis".into(),
            redis_url.clone(),
        ]
    };
    let args_a = args(port_a);
    let args_b = args(port_b);
    let (mut a, _) = start_example("chat", &strs(&args_a)).await;
    let (_b, _) = start_example("chat", &strs(&args_b)).await;
    let listen = free_port();
    let nginx = Nginx::start(&site_config(listen, [port_a, port_b]), listen).await;

    // The page itself comes through the same location (a plain GET: `Connection: close`).
    let mut http = TcpStream::connect(("127.0.0.1", listen)).await.unwrap();
    http.write_all(b"GET / HTTP/1.1\r\nHost: chat\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut page = String::new();
    http.read_to_string(&mut page).await.unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("new WebSocket"), "the chat page");

    // Four clients through nginx: least_conn spreads them over both instances.
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(ChatClient::join(&nginx.url()).await);
    }
    let on_a = clients.iter().filter(|c| c.instance() == port_a).count();
    let on_b = clients.iter().filter(|c| c.instance() == port_b).count();
    assert!(on_a > 0 && on_b > 0, "clients on A: {on_a}, on B: {on_b}");
    round(&mut clients, "first").await;

    // Instance A dies: its clients reconnect through nginx (to B) and hear new messages.
    a.kill().await.unwrap();
    for client in clients.iter_mut().filter(|c| c.instance() == port_a) {
        client.rejoin().await;
        assert_eq!(
            client.instance(),
            port_b,
            "reconnected to the live instance"
        );
    }
    round(&mut clients, "after-kill").await;

    // A comes back on its port; a client on it and the clients on B hear each other.
    let (_a, _) = start_example("chat", &strs(&args_a)).await;
    clients.push(ChatClient::join(&format!("ws://127.0.0.1:{port_a}/ws")).await);
    assert_eq!(clients.last().unwrap().instance(), port_a);
    round(&mut clients, "after-restart").await;

    // Redis itself restarts: the instances subscribe again and their publishing connections
    // reconnect (what is said meanwhile is lost: pub/sub keeps nothing). Probe until a line
    // crosses again, then every client hears every client.
    redis.kill().await.unwrap();
    let _redis = start_redis_on(redis_port).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let last = clients.len() - 1;
    for probe in 0.. {
        assert!(
            Instant::now() < deadline,
            "the room did not recover from a Redis restart"
        );
        // One line from each instance (client 0 is on B, the last one on A).
        let mut expect = Vec::new();
        for i in [0, last] {
            let text = format!("probe-{probe}-{i}");
            clients[i].say(&text).await;
            expect.push((clients[i].name.clone(), text));
        }
        let heard = tokio::time::timeout(Duration::from_millis(500), async {
            for client in clients.iter_mut() {
                client.hears(&expect).await;
            }
        });
        if heard.await.is_ok() {
            break;
        }
    }
    round(&mut clients, "after-redis-restart").await;
}

#[tokio::test]
#[ignore = "needs nginx, redis-server, node, chromium and deploy/browser's npm packages; run by .ci/deploy.sh"]
async fn chat_pages_in_chromium_talk_across_instances_and_reconnect() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/browser/chat_pages.mjs");
    assert!(
        script
            .with_file_name("node_modules/playwright-core")
            .exists(),
        "run `npm ci` in deploy/browser first (.ci/deploy.sh does)"
    );
    let (_redis, redis_port) = start_redis().await;
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    let ports = [free_port(), free_port()];
    let mut instances = Vec::new();
    for port in ports {
        let args = [
            format!("127.0.0.1:{port}"),
            "--redis".into(),
            redis_url.clone(),
        ];
        instances.push(Some(start_example("chat", &strs(&args)).await.0));
    }
    let listen = free_port();
    let _nginx = Nginx::start(&site_config(listen, ports), listen).await;

    let mut node = Command::new(tool("node"))
        .arg(&script)
        .arg(format!("http://127.0.0.1:{listen}/"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut stdin = node.stdin.take().unwrap();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let verdict = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            eprintln!("chat_pages.mjs: {line}");
            if let Some(port) = line.strip_prefix("KILL ") {
                let port: u16 = port.parse().unwrap();
                let i = ports.iter().position(|&p| p == port).expect("one of ours");
                let mut instance = instances[i].take().expect("still running");
                instance.kill().await.unwrap();
                stdin.write_all(b"killed\n").await.unwrap();
            } else if line == "PASS" || line.starts_with("FAIL") {
                return line;
            }
        }
        "FAIL: the script ended without a verdict".to_string()
    })
    .await
    .expect("the browser check finishes within 120 s");
    assert_eq!(verdict, "PASS");
}

// ----- wsd: a command as a WebSocket -----

/// One line of /proc/PID/stat, the fields used here.
#[derive(Debug)]
struct Proc {
    pid: u32,
    state: char,
    ppid: u32,
    pgrp: u32,
}

fn processes() -> Vec<Proc> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() < 3 {
            continue;
        }
        out.push(Proc {
            pid,
            state: fields[0].chars().next().unwrap_or('?'),
            ppid: fields[1].parse().unwrap_or(0),
            pgrp: fields[2].parse().unwrap_or(0),
        });
    }
    out
}

fn children_of(pid: u32) -> Vec<Proc> {
    processes().into_iter().filter(|p| p.ppid == pid).collect()
}

/// A field of /proc/PID/status in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// A client with a small receive buffer (8 KiB) and no compression, so that the kernel cannot absorb what the
/// server sends while the client does not read.
async fn slow_client(url: &str) -> WebSocketStream<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(8 * 1024).unwrap();
    let port: u16 = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let stream = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    // Uncompressed, so that what is in flight is as big as what the command printed.
    let options = Options::default();
    #[cfg(feature = "deflate")]
    let options = options.deflate(None);
    let request = ClientRequest::from_url(url).unwrap();
    let (ws, _) = WebSocketStream::client_with_options(stream, request, &options)
        .await
        .unwrap();
    ws
}

/// Reads the next line from `wsd` and checks that it is `expected`.
async fn read_line<S>(ws: &mut WebSocketStream<S>, expected: &mut u32)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match next_message(ws).await.unwrap() {
        Message::Text(text) => {
            assert_eq!(text.as_str(), expected.to_string(), "lines in order");
            *expected += 1;
        }
        other => panic!("line {expected}: {other:?}"),
    }
}

async fn start_wsd(command: &[&str]) -> (Child, String) {
    let mut args = vec!["--port", "0", "--grace", "0.3", "--"];
    args.extend_from_slice(command);
    let (child, port) = start_example("wsd", &args).await;
    (child, format!("ws://127.0.0.1:{port}/"))
}

/// Waits until `check` holds, for up to 10 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
#[ignore = "needs the wsd example; run by .ci/deploy.sh"]
async fn wsd_cat_echoes_lines() {
    let (wsd, url) = start_wsd(&["cat"]).await;
    let wsd_pid = wsd.id().unwrap();
    let (mut ws, _) = WebSocketStream::connect(&url).await.unwrap();
    for text in ["hello", "wörld", ""] {
        ws.send(Message::text(text)).await.unwrap();
        assert_eq!(next_message(&mut ws).await.unwrap(), Message::text(text));
    }
    ws.send(Message::binary(&b"raw bytes"[..])).await.unwrap();
    assert_eq!(
        next_message(&mut ws).await.unwrap(),
        Message::text("raw bytes")
    );
    // Two lines in one message come back as two messages.
    ws.send(Message::text("one\ntwo")).await.unwrap();
    assert_eq!(next_message(&mut ws).await.unwrap(), Message::text("one"));
    assert_eq!(next_message(&mut ws).await.unwrap(), Message::text("two"));
    assert_eq!(children_of(wsd_pid).len(), 1, "one cat per connection");

    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert!(matches!(
        next_message(&mut ws).await.unwrap(),
        Message::Close(_)
    ));
    assert!(matches!(ws.read().await, Err(Error::Closed)));
    // cat got EOF and exited, and was reaped.
    eventually("cat is gone", || children_of(wsd_pid).is_empty()).await;
}

#[tokio::test]
#[ignore = "needs the wsd example; run by .ci/deploy.sh"]
async fn wsd_stopped_with_sigterm_ends_its_commands() {
    // One command that goes with SIGTERM, one that needs SIGKILL.
    let (mut wsd, url) = start_wsd(&[
        "sh",
        "-c",
        "read how; if [ \"$how\" = stubborn ]; then trap '' TERM; fi; sleep 1000 & wait",
    ])
    .await;
    let wsd_pid = wsd.id().unwrap();
    let mut clients = Vec::new();
    for how in ["polite", "stubborn"] {
        let (mut ws, _) = WebSocketStream::connect(&url).await.unwrap();
        ws.send(Message::text(how)).await.unwrap();
        clients.push(ws);
    }
    eventually("both commands run", || children_of(wsd_pid).len() == 2).await;
    let groups: Vec<u32> = children_of(wsd_pid).iter().map(|p| p.pid).collect();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(wsd_pid as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), wsd.wait())
        .await
        .expect("wsd exits")
        .unwrap();
    assert!(status.success(), "wsd: {status}");
    eventually("no process of either command is left", || {
        processes().iter().all(|p| !groups.contains(&p.pgrp))
    })
    .await;
    for mut ws in clients {
        // Each client hears that its command was killed, or at least that the connection ended.
        match tokio::time::timeout(Duration::from_secs(5), ws.read()).await {
            Ok(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::INTERNAL_ERROR);
                assert!(frame.reason.starts_with("killed by signal"), "{frame:?}");
            }
            Ok(Err(_)) => {}
            other => panic!("after wsd stopped: {other:?}"),
        }
    }
}

#[tokio::test]
#[ignore = "needs the wsd example; run by .ci/deploy.sh"]
async fn wsd_refuses_clients_beyond_max_forks() {
    let (_wsd, port) =
        start_example("wsd", &["--port", "0", "--max-forks", "1", "--", "cat"]).await;
    let url = format!("ws://127.0.0.1:{port}/");
    let (mut first, _) = WebSocketStream::connect(&url).await.unwrap();
    match WebSocketStream::connect(&url).await {
        Err(Error::Rejected { status: 503, .. }) => {}
        other => panic!("expected a 503 for the second client, got {other:?}"),
    }
    // The first one is served all along; once it has gone, there is room again.
    first.send(Message::text("still here")).await.unwrap();
    assert_eq!(
        next_message(&mut first).await.unwrap(),
        Message::text("still here")
    );
    first.close(CloseCode::NORMAL, "").await.unwrap();
    while first.read().await.is_ok() {}
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match WebSocketStream::connect(&url).await {
            Ok(_) => break,
            Err(Error::Rejected { status: 503, .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("after the first client left: {e}"),
        }
    }
}

#[tokio::test]
#[ignore = "needs the wsd example; run by .ci/deploy.sh"]
async fn wsd_closes_with_the_exit_status() {
    let (_wsd, url) = start_wsd(&["sh", "-c", "read n; echo \"got $n\"; exit $n"]).await;
    for (n, code, reason) in [("0", 1000, ""), ("3", 1011, "exit status 3")] {
        let (mut ws, _) = WebSocketStream::connect(&url).await.unwrap();
        ws.send(Message::text(n)).await.unwrap();
        assert_eq!(
            next_message(&mut ws).await.unwrap(),
            Message::text(format!("got {n}"))
        );
        match next_message(&mut ws).await.unwrap() {
            Message::Close(Some(frame)) => {
                assert_eq!(u16::from(frame.code), code);
                assert_eq!(frame.reason.as_str(), reason);
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
        assert!(matches!(ws.read().await, Err(Error::Closed)));
    }
    let (_wsd, url) = start_wsd(&["sh", "-c", "kill -9 $$"]).await;
    let (mut ws, _) = WebSocketStream::connect(&url).await.unwrap();
    match next_message(&mut ws).await.unwrap() {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::INTERNAL_ERROR);
            assert_eq!(frame.reason.as_str(), "killed by signal 9");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
#[ignore = "needs the wsd example; run by .ci/deploy.sh"]
async fn wsd_seq_reaches_a_slow_client_in_order_with_bounded_memory() {
    const LINES: u32 = 100_000;
    let (wsd, url) = start_wsd(&["sh", "-c", "seq 1 100000"]).await;
    let wsd_pid = wsd.id().unwrap();

    // A slow client with a small receive window, so that backpressure has to reach the command.
    let mut ws = slow_client(&url).await;

    let mut expected = 1u32;
    for _ in 0..100 {
        read_line(&mut ws, &mut expected).await;
    }
    let rss_start = status_kib(wsd_pid, "VmRSS");

    let mut rss_max = rss_start;
    while expected <= LINES {
        read_line(&mut ws, &mut expected).await;
        if expected.is_multiple_of(5_000) {
            rss_max = rss_max.max(status_kib(wsd_pid, "VmRSS"));
            // Slow: a pause every 5000 lines.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let hwm = status_kib(wsd_pid, "VmHWM");
    eprintln!(
        "wsd RSS: {rss_start} KiB after 100 lines, at most {rss_max} KiB sampled, peak {hwm} KiB; \
         the output was {} KiB",
        (1..=LINES)
            .map(|i| i.to_string().len() as u64 + 1)
            .sum::<u64>()
            / 1024
    );
    // Memory stays flat: wsd holds at most one read of the pipe (64 KiB) and its socket buffers.
    assert!(
        rss_max <= rss_start + 1024,
        "wsd's RSS grew from {rss_start} KiB to {rss_max} KiB"
    );
    match next_message(&mut ws).await.unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::NORMAL),
        other => panic!("expected the close after the last line, got {other:?}"),
    }
    assert!(matches!(ws.read().await, Err(Error::Closed)));
    eventually("the command is reaped", || children_of(wsd_pid).is_empty()).await;
}

#[tokio::test]
#[ignore = "needs the wsd example; run by .ci/deploy.sh"]
async fn wsd_holds_the_command_back_while_the_client_does_not_read() {
    // About 21 MiB in 20000 lines: more than the kernel's socket and pipe buffers can hold, so
    // that without backpressure it would pile up in wsd's memory.
    const LINES: usize = 20_000;
    let line: String = (1..=300)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let (wsd, url) = start_wsd(&["sh", "-c", "yes \"$(seq -s, 1 300)\" | head -n 20000"]).await;
    let wsd_pid = wsd.id().unwrap();
    let mut ws = slow_client(&url).await;
    for _ in 0..10 {
        assert_eq!(
            next_message(&mut ws).await.unwrap(),
            Message::text(line.as_str())
        );
    }
    let rss_start = status_kib(wsd_pid, "VmRSS");

    // The client stops reading for a second: the command must be held up (blocked writing to
    // its pipe), not have its output slurped into wsd's memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let command: Vec<Proc> = children_of(wsd_pid)
        .into_iter()
        .filter(|p| p.state != 'Z')
        .collect();
    assert_eq!(
        command.len(),
        1,
        "the command still runs while the client does not read: {command:?}"
    );
    let group: Vec<Proc> = processes()
        .into_iter()
        .filter(|p| p.pgrp == command[0].pid)
        .collect();
    assert!(
        group.iter().any(|p| p.state == 'S'),
        "the command waits, blocked on its pipe: {group:?}"
    );
    let rss_paused = status_kib(wsd_pid, "VmRSS");

    for i in 10..LINES {
        match next_message(&mut ws).await.unwrap() {
            Message::Text(text) => assert!(text.as_str() == line, "line {i} changed"),
            other => panic!("line {i}: {other:?}"),
        }
    }
    let hwm = status_kib(wsd_pid, "VmHWM");
    eprintln!(
        "wsd RSS: {rss_start} KiB after 10 lines, {rss_paused} KiB while paused, peak {hwm} KiB; \
         {} KiB sent",
        LINES * (line.len() + 1) / 1024
    );
    assert!(
        rss_paused <= rss_start + 1024,
        "wsd's RSS grew from {rss_start} KiB to {rss_paused} KiB while the client paused"
    );
    match next_message(&mut ws).await.unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::NORMAL),
        other => panic!("expected the close after the last line, got {other:?}"),
    }
}

#[tokio::test]
#[ignore = "needs the wsd example; run by .ci/deploy.sh"]
async fn wsd_client_leaving_leaves_no_process_behind() {
    for (what, command) in [
        ("reads stdin: EOF ends it", &["cat"][..]),
        ("ignores stdin: SIGTERM ends it", &["sleep", "1000"][..]),
        (
            "ignores SIGTERM, has children: SIGKILL to the group ends it",
            &[
                "sh",
                "-c",
                "trap '' TERM; sleep 1000 & while :; do sleep 0.1; done",
            ][..],
        ),
    ] {
        let (wsd, url) = start_wsd(command).await;
        let wsd_pid = wsd.id().unwrap();
        for clean in [true, false] {
            let (mut ws, _) = WebSocketStream::connect(&url).await.unwrap();
            eventually("the command starts", || !children_of(wsd_pid).is_empty()).await;
            let group = children_of(wsd_pid)[0].pid;
            if clean {
                ws.close(CloseCode::GOING_AWAY, "").await.unwrap();
                while ws.read().await.is_ok() {}
            } else {
                // Gone without a close frame.
                drop(ws);
            }
            eventually(&format!("{what}: no process left"), || {
                processes()
                    .iter()
                    .all(|p| p.ppid != wsd_pid && p.pgrp != group)
            })
            .await;
        }
        // wsd itself is still up and serving (and cleans up after this one too).
        let (mut ws, _) = WebSocketStream::connect(&url).await.expect(what);
        ws.close(CloseCode::GOING_AWAY, "").await.unwrap();
        while ws.read().await.is_ok() {}
        eventually(&format!("{what}: no process left"), || {
            children_of(wsd_pid).is_empty()
        })
        .await;
    }
}
