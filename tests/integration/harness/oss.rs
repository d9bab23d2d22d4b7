//! A fake OSS on 127.0.0.1 that speaks GetObject/HeadObject and checks signatures.
