//! The CRM service: configuration, wiring and the command-line interface.
#![forbid(unsafe_code)]

pub mod app;
pub mod app_files;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod embedded;
pub mod ops;
pub mod seed;
mod vocabulary;
