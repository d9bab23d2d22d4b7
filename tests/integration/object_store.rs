//! Object sources against real servers: the fake OSS and an S3-compatible emulator.
