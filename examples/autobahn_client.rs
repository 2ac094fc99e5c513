//! A client for the Autobahn testsuite's fuzzing server (`wstest -m fuzzingserver`): runs every
//! case, echoing each text and binary message, then asks the server to write its reports.
//!
//! ```text
//! cargo run --release --all-features --example autobahn_client -- ws://127.0.0.1:9001 wsproto
//! ```
//!
//! The protocol: `/getCaseCount` sends the number of cases as a text message;
//! `/runCase?case=N&agent=A` runs case N (1-based); `/updateReports?agent=A` writes the reports.
//! See `scripts/autobahn.sh client`.

use std::process::ExitCode;

use wsproto::driver::blocking::WebSocket;
use wsproto::driver::{Error, Options};
use wsproto::{Config, Message};

/// Room for the testsuite's largest messages (16 MiB, section 9) with margin.
const LIMIT: usize = 64 << 20;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = args.next().unwrap_or_else(|| "wsproto".into());
    let base = base.trim_end_matches('/');
    let options = Options::default().config(
        Config::default()
            .max_frame_size(LIMIT)
            .max_message_size(LIMIT),
    );

    let count = match case_count(base, &options) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("autobahn_client: cannot get the case count from {base}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("autobahn_client: {count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        if let Err(e) = run_case(&url, &options) {
            // A failing case is the testsuite's to judge; carry on.
            println!("case {case}/{count}: {e}");
        }
    }
    let url = format!("{base}/updateReports?agent={agent}");
    match WebSocket::connect_with_options(&url, &options) {
        Ok((mut ws, _)) => {
            // The server writes the reports and closes.
            while ws.read().is_ok() {}
            println!("autobahn_client: reports updated");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("autobahn_client: updateReports failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn case_count(base: &str, options: &Options) -> Result<u32, Error> {
    let (mut ws, _) = WebSocket::connect_with_options(format!("{base}/getCaseCount"), options)?;
    // The count comes as a text message; the server closes afterwards.
    loop {
        if let Message::Text(text) = ws.read()? {
            return text
                .trim()
                .parse()
                .map_err(|_| Error::Io(std::io::Error::other("the case count is not a number")));
        }
    }
}

fn run_case(url: &str, options: &Options) -> Result<(), Error> {
    let (mut ws, _) = WebSocket::connect_with_options(url, options)?;
    loop {
        match ws.read() {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => ws.send(message)?,
            Ok(_) => {}
            Err(Error::Closed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}
