//! Who is calling: an API key (`Authorization: Bearer adb_…`) names a tenant and a role.
//!
//! Every collection belongs to a tenant; a caller sees only its tenant's, and another tenant's
//! collection answers 404, exactly as one that does not exist (no existence leak).

use axum::{extract::FromRequestParts, http::StatusCode, http::request::Parts};

use super::{ApiError, AppState};
use crate::store::api_keys::{self, Role};

/// The tenant used when authentication is switched off (`--insecure-no-auth`, loopback only).
pub const LOCAL_TENANT: &str = "default";

#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: String,
    pub role: Role,
    /// Who this is in audit records: `key:<prefix>` (the key's public prefix), or `local`.
    pub actor: String,
}

impl Caller {
    /// Refuses a caller whose role is below `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role >= needed {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this key's role is {}, and this needs {needed}: use a key created with `adbrag keys create --role {needed}`",
                self.role
            ),
        ))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.auth == super::Auth::InsecureLocal {
            return Ok(Caller {
                tenant: LOCAL_TENANT.to_owned(),
                role: Role::Admin,
                actor: "local".to_owned(),
            });
        }
        let unauthorized =
            |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                unauthorized(
                    "missing API key: send `Authorization: Bearer <key>` (an operator creates keys with `adbrag keys create`)",
                )
            })?;
        let secret = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|secret| !secret.is_empty())
            .ok_or_else(|| {
                unauthorized("malformed Authorization header: use `Authorization: Bearer <key>`")
            })?;
        match api_keys::authenticate(&mut *super::metrics::acquire(state).await?, secret).await? {
            Some(key) => Ok(Caller {
                actor: format!("key:{}", key.prefix),
                tenant: key.tenant,
                role: key.role,
            }),
            None => Err(unauthorized(
                "invalid or revoked API key: check the key, or ask an operator for a new one",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_both_roles_and_the_command_that_makes_the_right_key() {
        let caller = Caller {
            tenant: "acme".into(),
            role: Role::Reader,
            actor: "key:1".into(),
        };
        assert!(caller.require(Role::Reader).is_ok());
        let err = caller.require(Role::Writer).unwrap_err();
        assert_eq!(
            err.message(),
            "this key's role is reader, and this needs writer: use a key created with `adbrag keys create --role writer`"
        );
    }
}
