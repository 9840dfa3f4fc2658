//! The integration tests, one crate: real servers and peers on loopback
//! ports, raw bytes in and out, and the real binary as a child process. One
//! crate links the library once instead of once per file (issue 20: a cold
//! build of 18 test binaries cost a newcomer minutes of linking).
//!
//! Select a file's tests by its module path: `cargo test --test it redis_chaos::`.

mod common;

mod check;
mod check_client;
mod check_standins;
mod check_upload;
mod cli;
mod digest;
mod faults;
mod headless_input;
mod headless_stdout;
mod hostile;
mod hostile_peer;
mod index_caps;
mod interop;
mod limits;
mod load;
mod metrics;
mod peer_manage;
mod peers;
mod per_address;
mod redis_caps;
mod redis_chaos;
mod redis_connect;
mod redis_faults;
mod redis_metrics;
mod redis_sentinel;
mod redis_shared;
mod server_env;
mod server_hostage;
mod server_wire;
mod systemd;
mod tui_tmux;
mod upload_files;
mod upload_pressure;
mod upload_wire;
