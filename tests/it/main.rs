//! CLI and real-Docker integration tests (one test binary).

mod support;

mod attacks;
mod busy;
mod copies;
mod engine_proxy;
mod errors;
mod exec;
mod faults;
mod forward;
mod heal;
mod identity;
mod inputs;
mod interrupts;
mod journey;
mod json_docs;
mod limits;
mod loading;
mod mcp;
mod monorepo;
mod names;
mod output;
mod podman;
mod proxy;
mod ready;
mod remote;
mod safety;
mod signals;
mod subnets;
mod tidy;
mod writes;
