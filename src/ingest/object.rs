//! Object stores: OSS, S3-compatible stores and local files, through opendal.
