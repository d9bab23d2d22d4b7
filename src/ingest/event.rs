//! OSS upload events (the Function Compute trigger payload) and the routes that map buckets to collections.
