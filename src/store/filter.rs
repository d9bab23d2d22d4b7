//! Metadata filters as SQL: the validated filter tree ([`Filter`]) and its rendering as a boolean
//! expression over a `jsonb` column, with every value and field path bound as a parameter.
//!
//! The tree is built from client JSON by `search::filter` (the grammar is in `docs/api.md`) or
//! directly in code; this module owns what makes it safe to render: a [`FieldPath`] can only be
//! made valid, values are always bound, and the only literals in the SQL are this module's own
//! constants. The search query and purge's selection both render filters here.
//!
//! The semantics each rendering implements (containment for equality, `IS NOT TRUE` for
//! negations, guarded casts for ranges, the strict [`DATE_PATTERN`] before a date cast) are
//! specified for clients in `docs/api.md` ("Filters"); the comments at each rendering say how.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};
use sqlx::{Postgres, QueryBuilder};

/// Characters allowed in a field name, dots included.
pub const MAX_FIELD_CHARS: usize = 64;

/// The PostgreSQL regular expression (ARE) a stored string must match to be compared as a date:
/// `YYYY-MM-DD`, optionally followed by `THH:MM:SS[.fraction]` and `Z` or `±HH:MM`. It encodes
/// every rule the `timestamptz` cast checks (month lengths, leap years, no year 0000, offsets up
/// to ±15:59), so whatever matches it casts without error. It is pushed into the SQL as a
/// literal: it is this module's constant, and holds neither a quote nor a backslash.
pub const DATE_PATTERN: &str = concat!(
    "^(?!0000)(?:",
    // Days 01-28 in any month, 29-30 in any month but February, 31 in the long months...
    "[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])",
    "|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)",
    // ...and 29 February in years divisible by 4, except centuries not divisible by 400.
    "|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29",
    ")",
    "(?:[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:[.][0-9]{1,9})?",
    "(?:[Zz]|[+-](?:0[0-9]|1[0-5]):[0-5][0-9]))?$",
);

/// A validated metadata filter. Built from client JSON by `search::filter`, or directly
/// (a [`FieldPath`] can only be made valid, so every `Filter` renders safe SQL). The size limits
/// are enforced by the parser; a filter built in code is trusted to stay within them.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every filter holds. Empty: matches everything (`{}`).
    And(Vec<Filter>),
    /// At least one filter holds. Empty: matches nothing.
    Or(Vec<Filter>),
    /// The filter does not hold (including where it is false because a field is missing).
    Not(Box<Filter>),
    /// One condition on one field.
    Field {
        path: FieldPath,
        condition: Condition,
    },
}

/// A validated field name, split at its dots into the keys of nested objects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath(Vec<String>);

/// A value equality compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    String(String),
    Number(Number),
    Bool(bool),
}

/// What one field must satisfy.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Eq(Scalar),
    Ne(Scalar),
    In(Vec<Scalar>),
    Nin(Vec<Scalar>),
    Compare(Comparison, Operand),
    Exists(bool),
}

/// A range operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// The bound of a range: its kind decides which stored values are compared at all.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Number(Number),
    Date(DateTime<Utc>),
}

/// Why a field name is not a [`FieldPath`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidField {
    /// A character outside `[A-Za-z0-9_.-]`, a bad first character, or too long.
    Characters,
    /// Two dots in a row, or a leading or trailing dot.
    EmptySegment,
}

impl Filter {
    /// Appends a boolean SQL expression over the jsonb column `column` (a trusted identifier the
    /// caller passes, e.g. "d.metadata") to `qb`, binding every value and field path with
    /// push_bind.
    ///
    /// Every node renders as an atom, either parenthesised or `TRUE`/`FALSE`, so nodes nest
    /// without precedence surprises and the caller can follow it with `AND …` as it is.
    pub fn push_sql(&self, qb: &mut QueryBuilder<Postgres>, column: &str) {
        match self {
            Filter::And(parts) => push_joined(qb, column, parts, " AND ", "TRUE"),
            Filter::Or(parts) => push_joined(qb, column, parts, " OR ", "FALSE"),
            Filter::Not(inner) => {
                qb.push("(");
                inner.push_sql(qb, column);
                qb.push(" IS NOT TRUE)");
            }
            Filter::Field { path, condition } => push_condition(qb, column, path, condition),
        }
    }
}

impl FieldPath {
    /// Validates a field name: `^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`, no empty part between dots.
    pub fn new(name: &str) -> Result<FieldPath, InvalidField> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        let starts_well = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        // All allowed characters are ASCII, so the byte length is the character count.
        if !starts_well || name.len() > MAX_FIELD_CHARS || !name.chars().all(allowed) {
            return Err(InvalidField::Characters);
        }
        let segments: Vec<String> = name.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(InvalidField::EmptySegment);
        }
        Ok(FieldPath(segments))
    }

    /// The keys from the outermost object inwards.
    pub fn segments(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

impl Scalar {
    fn to_json(&self) -> Value {
        match self {
            Scalar::String(s) => Value::String(s.clone()),
            Scalar::Number(n) => Value::Number(n.clone()),
            Scalar::Bool(b) => Value::Bool(*b),
        }
    }
}

impl Comparison {
    fn sql(self) -> &'static str {
        match self {
            Comparison::Gt => ">",
            Comparison::Gte => ">=",
            Comparison::Lt => "<",
            Comparison::Lte => "<=",
        }
    }
}

fn push_joined(
    qb: &mut QueryBuilder<Postgres>,
    column: &str,
    parts: &[Filter],
    separator: &str,
    empty: &str,
) {
    if parts.is_empty() {
        qb.push(empty);
        return;
    }
    qb.push("(");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            qb.push(separator);
        }
        part.push_sql(qb, column);
    }
    qb.push(")");
}

fn push_condition(
    qb: &mut QueryBuilder<Postgres>,
    column: &str,
    path: &FieldPath,
    condition: &Condition,
) {
    match condition {
        Condition::Eq(value) => push_contains_any(qb, column, path, std::slice::from_ref(value)),
        Condition::In(values) => push_contains_any(qb, column, path, values),
        Condition::Ne(value) => {
            qb.push("(");
            push_contains_any(qb, column, path, std::slice::from_ref(value));
            qb.push(" IS NOT TRUE)");
        }
        Condition::Nin(values) => {
            qb.push("(");
            push_contains_any(qb, column, path, values);
            qb.push(" IS NOT TRUE)");
        }
        Condition::Exists(exists) => {
            qb.push("(");
            push_value(qb, column, path, "#>");
            qb.push(if *exists {
                " IS NOT NULL)"
            } else {
                " IS NULL)"
            });
        }
        Condition::Compare(comparison, Operand::Number(bound)) => {
            // Casting the text of anything but a number to numeric raises, so only numbers
            // reach the cast. Text, not `jsonb::numeric`, which PostgreSQL 10 and older lack.
            // The bound is serde_json's rendering of a JSON number: valid numeric input.
            qb.push("(CASE WHEN jsonb_typeof(");
            push_value(qb, column, path, "#>");
            qb.push(") = 'number' THEN ");
            push_value(qb, column, path, "#>>");
            qb.push("::numeric ");
            qb.push(comparison.sql());
            qb.push(" ");
            qb.push_bind(bound.to_string());
            qb.push("::numeric ELSE FALSE END)");
        }
        Condition::Compare(comparison, Operand::Date(bound)) => {
            // Only strings that match DATE_PATTERN reach the cast, and the pattern admits only
            // what the cast accepts. `#>>` gives the text of any jsonb, but no number, boolean,
            // array or object renders as text that matches, so the pattern also checks the type.
            // A bare date means midnight UTC, whatever the session's TimeZone: give it a zone.
            qb.push("(CASE WHEN ");
            push_value(qb, column, path, "#>>");
            qb.push(" ~ '");
            qb.push(DATE_PATTERN);
            qb.push("' THEN (CASE WHEN length(");
            push_value(qb, column, path, "#>>");
            qb.push(") = 10 THEN ");
            push_value(qb, column, path, "#>>");
            qb.push(" || 'T00:00:00Z' ELSE ");
            push_value(qb, column, path, "#>>");
            qb.push(" END)::timestamptz ");
            qb.push(comparison.sql());
            qb.push(" ");
            qb.push_bind(*bound);
            qb.push(" ELSE FALSE END)");
        }
    }
}

/// `(column @> $1::jsonb OR column @> $2::jsonb …)`: each value wrapped in the path's objects,
/// so the GIN `jsonb_path_ops` index serves every branch. No values: `FALSE`.
fn push_contains_any(
    qb: &mut QueryBuilder<Postgres>,
    column: &str,
    path: &FieldPath,
    values: &[Scalar],
) {
    if values.is_empty() {
        qb.push("FALSE");
        return;
    }
    qb.push("(");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        let document = path
            .segments()
            .iter()
            .rev()
            .fold(value.to_json(), |inner, key| {
                Value::Object(Map::from_iter([(key.clone(), inner)]))
            });
        qb.push(column);
        qb.push(" @> ");
        qb.push_bind(document);
        qb.push("::jsonb");
    }
    qb.push(")");
}

/// `(column #> $1::text[])` or `#>>`: the value at the path, its segments bound as `text[]`.
fn push_value(qb: &mut QueryBuilder<Postgres>, column: &str, path: &FieldPath, operator: &str) {
    qb.push("(");
    qb.push(column);
    qb.push(" ");
    qb.push(operator);
    qb.push(" ");
    qb.push_bind(path.segments());
    qb.push("::text[])");
}
