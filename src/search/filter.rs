//! Metadata filters: the JSON a client sends with a search request, validated into a [`Filter`],
//! then rendered as a boolean SQL expression over a `jsonb` column with every value and field path
//! bound as a parameter. No client text ever becomes SQL text: field names are validated *and*
//! bound, values are bound, and the only literals in the SQL are this module's own constants.
//!
//! # Grammar
//!
//! A filter is a JSON object. Its keys are field names or the logical operators `$and`, `$or` and
//! `$not`; several keys in one object must all hold (AND). `{}` matches every document.
//!
//! ```json
//! {"team": "hr"}                                   equality: a string, number or boolean
//! {"team": "hr", "year": 2024}                     several keys: all must hold
//! {"team": {"$eq": "hr"}}                          the same as {"team": "hr"}
//! {"team": {"$ne": "hr"}}                          not equal (also matches documents without 'team')
//! {"team": {"$in": ["hr", "legal"]}}               any of the listed values (at most 256)
//! {"team": {"$nin": ["hr", "legal"]}}              none of them (also matches documents without 'team')
//! {"year": {"$gte": 2020, "$lt": 2025}}            number ranges: $gt, $gte, $lt, $lte
//! {"published": {"$gte": "2024-01-01", "$lt": "2024-07-01T00:00:00Z"}}   date ranges
//! {"owner": {"$exists": true}}                     the field is present (even if null)
//! {"owner.name": "ana"}                            a dotted name walks nested objects
//! {"$and": [{"team": "hr"}, {"year": 2024}]}
//! {"$or": [{"team": "hr"}, {"team": "legal"}]}
//! {"$not": {"team": "hr"}}
//! ```
//!
//! Limits: at most 8 levels of nested filter objects (the outermost is level 1; each `$and`,
//! `$or` or `$not` adds one), at most 64 conditions (one per field operator), at most 256 values
//! in a `$in` or `$nin` list. A field name matches `^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$` with no
//! empty part between dots; `"a.b"` is the key `b` inside the object at key `a`.
//!
//! # Semantics
//!
//! - **Equality** (`"k": v`, `$eq`, `$in`) is jsonb containment: `column @> '{"k": v}'`, which the
//!   `jsonb_path_ops` GIN index on `document.metadata` serves (`$in` is an OR of containments, a
//!   bitmap OR of index scans). Numbers compare by value (`2024` equals `2024.0`); types never
//!   match across (`"2024"` is not `2024`); a field holding an array is not equal to one of its
//!   items (PostgreSQL's containment only lets a *top-level* array contain a bare value).
//! - **Negations** (`$ne`, `$nin`, `$not`) are the exact complement of what they negate: they
//!   match wherever it does not, including documents where the field is missing or of another
//!   type. They render as `(…) IS NOT TRUE`, so a NULL never turns a negation into "unknown".
//! - **Ranges** compare only values of the operand's kind; anything else (a missing field, a
//!   string where a number is expected, `"n/a"`, an object) is simply not in range: the
//!   condition is false, never an SQL error. Each cast is guarded by `CASE WHEN … THEN … ELSE
//!   false END`, because PostgreSQL does not promise to evaluate the operands of `AND` in order.
//!   - A **number** operand compares values whose `jsonb_typeof` is `number`, as `numeric`
//!     (exact: no rounding through floating point).
//!   - A **date** operand is a string in RFC 3339 (`2024-07-01T08:00:00+08:00`, `…Z`) or
//!     `YYYY-MM-DD`, which means midnight UTC. Any other string operand is refused: there are no
//!     ranges over arbitrary text. A stored value counts as a date when it is a string of one of
//!     those two forms (the separator may also be `t` or a space, the zone `z`) naming a real
//!     instant; it is then cast to `timestamptz` and compared as an instant, so offsets are
//!     honoured. The check is a strict regular expression ([`DATE_PATTERN`]) that admits exactly
//!     the strings the cast accepts: months 01–12, the days each month really has (29 February
//!     only in leap years), hours 00–23, offsets up to ±15:59, no year 0000. A value such as
//!     `"2024-13-45"`, `"2023-02-29"` or `"2024-01-01T10:00"` (no zone) is therefore not a date
//!     and never reaches the cast. Comparing normalised text instead would have needed every
//!     stored date to be in UTC; casting only proven-valid strings handles offsets correctly.
//! - **`$exists`** tests whether the path leads anywhere: `{"k": null}` has `k`.
//! - Dotted paths walk objects only for equality (containment mirrors the object structure);
//!   the other operators use `#>`, where a segment of digits also indexes into an array. Keep
//!   array positions out of filters and the two agree.
//! - If the column itself is SQL NULL, positive conditions yield NULL or false and negations
//!   yield true; in a `WHERE` clause NULL acts as false. `document.metadata` is `NOT NULL`.
//!
//! Dates in equality (`{"published": "2024-01-01"}`) are plain string equality.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Number, Value};
use sqlx::{Postgres, QueryBuilder};

/// Nested filter objects allowed, the outermost counting as level 1.
pub const MAX_DEPTH: usize = 8;
/// Field operators allowed in one filter; bounds the SQL's size and its parameter count
/// (at most 64 × 256 containment parameters, well under PostgreSQL's 65,535).
pub const MAX_CONDITIONS: usize = 64;
/// Values allowed in one `$in` or `$nin` list.
pub const MAX_LIST_ITEMS: usize = 256;
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

/// Every operator allowed on a field, as error messages list them.
const FIELD_OPERATORS: &str = "$eq, $ne, $in, $nin, $gt, $gte, $lt, $lte, $exists";

/// A validated metadata filter. Build it with [`Filter::parse`] from client JSON, or directly
/// (a [`FieldPath`] can only be made valid, so every `Filter` renders safe SQL). The size limits
/// are enforced by `parse`; a filter built in code is trusted to stay within them.
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

/// Why a filter was refused. Every message names the offending key or operator and says how to
/// fix it; client text in a message is cut to 64 characters with control characters escaped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    #[error("filter must be a JSON object, got {got}")]
    NotAnObject { got: &'static str },
    #[error(
        "invalid field name '{field}': use 1 to 64 letters, digits, '_', '-' or '.', starting with a letter, digit or '_' (a '.' separates nested keys, as in 'owner.name')"
    )]
    InvalidField { field: String },
    #[error(
        "field name '{field}' has an empty part between dots: name nested keys like 'owner.name'"
    )]
    EmptyPathSegment { field: String },
    #[error("unknown filter operator '{operator}' on '{field}': use one of {list}", list = FIELD_OPERATORS)]
    UnknownOperator { field: String, operator: String },
    #[error(
        "unknown logical operator '{operator}': use $and, $or or $not, or a field name without '$'"
    )]
    UnknownLogicalOperator { operator: String },
    #[error("'{operator}' needs {expected}, got {got}")]
    InvalidLogicalOperand {
        operator: &'static str,
        expected: &'static str,
        got: String,
    },
    #[error("'{operator}' on '{field}' needs {expected}, got {got}")]
    InvalidOperand {
        field: String,
        operator: &'static str,
        expected: &'static str,
        got: String,
    },
    #[error(
        "'{field}' is compared with null: compare with a string, number or boolean, or use {{\"$exists\": false}} for a missing field"
    )]
    NullValue { field: String },
    #[error(
        "'{field}' is compared with an array: use {{\"$in\": [...]}} to match any of several values"
    )]
    ArrayValue { field: String },
    #[error(
        "'{field}' is compared with an object without operators (key '{key}'): filter a nested field with a dotted name such as '{field}.{key}', or use an operator such as $eq"
    )]
    NestedObject { field: String, key: String },
    #[error("'{field}' has an empty operator object: add an operator such as {{\"$eq\": ...}}")]
    NoOperator { field: String },
    #[error(
        "the range on '{field}' mixes numbers and dates: bound a field with numbers only or dates only"
    )]
    MixedRange { field: String },
    #[error(
        "'{operator}' on '{field}' lists {len} values: use at most {max}, or split the search",
        max = MAX_LIST_ITEMS
    )]
    ListTooLong {
        field: String,
        operator: &'static str,
        len: usize,
    },
    #[error(
        "filter has more than {max} conditions: combine equalities on one field with $in, or narrow the filter",
        max = MAX_CONDITIONS
    )]
    TooManyConditions,
    #[error(
        "filter is nested more than {max} levels deep: flatten $and/$or/$not (the keys of one object are already ANDed)",
        max = MAX_DEPTH
    )]
    TooDeep,
}

impl Filter {
    /// Validates client JSON into a filter (see the module documentation for the grammar).
    pub fn parse(value: &Value) -> Result<Filter, FilterError> {
        let Value::Object(object) = value else {
            return Err(FilterError::NotAnObject {
                got: describe(value),
            });
        };
        let mut conditions = 0;
        parse_object(object, 1, &mut conditions)
    }

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
    pub fn parse(name: &str) -> Result<FieldPath, FilterError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        let starts_well = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        // All allowed characters are ASCII, so the byte length is the character count.
        if !starts_well || name.len() > MAX_FIELD_CHARS || !name.chars().all(allowed) {
            return Err(FilterError::InvalidField {
                field: excerpt(name),
            });
        }
        let segments: Vec<String> = name.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(FilterError::EmptyPathSegment {
                field: name.to_owned(),
            });
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

fn parse_object(
    object: &Map<String, Value>,
    depth: usize,
    conditions: &mut usize,
) -> Result<Filter, FilterError> {
    let mut parts = Vec::with_capacity(object.len());
    for (key, value) in object {
        match key.as_str() {
            "$and" | "$or" => {
                let operator = if key == "$and" { "$and" } else { "$or" };
                let children = parse_list(operator, value, depth, conditions)?;
                parts.push(if operator == "$and" {
                    Filter::And(children)
                } else {
                    Filter::Or(children)
                });
            }
            "$not" => {
                let Value::Object(inner) = value else {
                    return Err(FilterError::InvalidLogicalOperand {
                        operator: "$not",
                        expected: "a filter object",
                        got: describe(value).to_owned(),
                    });
                };
                let child = parse_object(inner, deeper(depth)?, conditions)?;
                parts.push(Filter::Not(Box::new(child)));
            }
            _ if key.starts_with('$') => {
                return Err(FilterError::UnknownLogicalOperator {
                    operator: excerpt(key),
                });
            }
            _ => {
                let path = FieldPath::parse(key)?;
                parse_field(path, value, conditions, &mut parts)?;
            }
        }
    }
    // One key needs no AND around it; `{}` stays the empty AND, which matches everything.
    if parts.len() == 1 {
        Ok(parts.remove(0))
    } else {
        Ok(Filter::And(parts))
    }
}

fn parse_list(
    operator: &'static str,
    value: &Value,
    depth: usize,
    conditions: &mut usize,
) -> Result<Vec<Filter>, FilterError> {
    const EXPECTED: &str = "a non-empty array of filter objects";
    let invalid = |got: String| FilterError::InvalidLogicalOperand {
        operator,
        expected: EXPECTED,
        got,
    };
    let Value::Array(items) = value else {
        return Err(invalid(describe(value).to_owned()));
    };
    if items.is_empty() {
        return Err(invalid("an empty array".to_owned()));
    }
    let depth = deeper(depth)?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(object) => parse_object(object, depth, conditions),
            other => Err(invalid(format!("{} as item {}", describe(other), i + 1))),
        })
        .collect()
}

fn deeper(depth: usize) -> Result<usize, FilterError> {
    if depth >= MAX_DEPTH {
        Err(FilterError::TooDeep)
    } else {
        Ok(depth + 1)
    }
}

/// Parses the value of one field key into its conditions, appended to `parts`.
fn parse_field(
    path: FieldPath,
    value: &Value,
    conditions: &mut usize,
    parts: &mut Vec<Filter>,
) -> Result<(), FilterError> {
    let field = path.to_string();
    let scalar = match value {
        Value::String(s) => Scalar::String(s.clone()),
        Value::Number(n) => Scalar::Number(n.clone()),
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Null => return Err(FilterError::NullValue { field }),
        Value::Array(_) => return Err(FilterError::ArrayValue { field }),
        Value::Object(operators) => {
            return parse_operators(path, field, operators, conditions, parts);
        }
    };
    count(conditions)?;
    parts.push(Filter::Field {
        path,
        condition: Condition::Eq(scalar),
    });
    Ok(())
}

/// Parses `{"$op": operand, …}` into one condition per operator, appended to `parts`.
fn parse_operators(
    path: FieldPath,
    field: String,
    operators: &Map<String, Value>,
    conditions: &mut usize,
    parts: &mut Vec<Filter>,
) -> Result<(), FilterError> {
    let Some(first) = operators.keys().next() else {
        return Err(FilterError::NoOperator { field });
    };
    if !operators.keys().any(|key| key.starts_with('$')) {
        return Err(FilterError::NestedObject {
            field,
            key: excerpt(first),
        });
    }
    let (mut numbers, mut dates) = (false, false);
    for (operator, operand) in operators {
        count(conditions)?;
        let condition = match operator.as_str() {
            "$eq" => Condition::Eq(scalar_operand(&field, "$eq", operand)?),
            "$ne" => Condition::Ne(scalar_operand(&field, "$ne", operand)?),
            "$in" => Condition::In(list_operand(&field, "$in", operand)?),
            "$nin" => Condition::Nin(list_operand(&field, "$nin", operand)?),
            "$gt" => range_operand(&field, "$gt", Comparison::Gt, operand)?,
            "$gte" => range_operand(&field, "$gte", Comparison::Gte, operand)?,
            "$lt" => range_operand(&field, "$lt", Comparison::Lt, operand)?,
            "$lte" => range_operand(&field, "$lte", Comparison::Lte, operand)?,
            "$exists" => match operand {
                Value::Bool(b) => Condition::Exists(*b),
                other => {
                    return Err(FilterError::InvalidOperand {
                        field,
                        operator: "$exists",
                        expected: "true or false",
                        got: describe(other).to_owned(),
                    });
                }
            },
            _ => {
                return Err(FilterError::UnknownOperator {
                    field,
                    operator: excerpt(operator),
                });
            }
        };
        match &condition {
            Condition::Compare(_, Operand::Number(_)) => numbers = true,
            Condition::Compare(_, Operand::Date(_)) => dates = true,
            _ => {}
        }
        parts.push(Filter::Field {
            path: path.clone(),
            condition,
        });
    }
    // No stored value is both a number and a date: such a range could only ever be empty.
    if numbers && dates {
        return Err(FilterError::MixedRange { field });
    }
    Ok(())
}

fn count(conditions: &mut usize) -> Result<(), FilterError> {
    *conditions += 1;
    if *conditions > MAX_CONDITIONS {
        Err(FilterError::TooManyConditions)
    } else {
        Ok(())
    }
}

fn to_scalar(value: &Value) -> Option<Scalar> {
    match value {
        Value::String(s) => Some(Scalar::String(s.clone())),
        Value::Number(n) => Some(Scalar::Number(n.clone())),
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn scalar_operand(
    field: &str,
    operator: &'static str,
    operand: &Value,
) -> Result<Scalar, FilterError> {
    to_scalar(operand).ok_or_else(|| FilterError::InvalidOperand {
        field: field.to_owned(),
        operator,
        expected: "a string, number or boolean",
        got: describe(operand).to_owned(),
    })
}

fn list_operand(
    field: &str,
    operator: &'static str,
    operand: &Value,
) -> Result<Vec<Scalar>, FilterError> {
    let invalid = |got: String| FilterError::InvalidOperand {
        field: field.to_owned(),
        operator,
        expected: "an array of strings, numbers or booleans",
        got,
    };
    let Value::Array(items) = operand else {
        return Err(invalid(describe(operand).to_owned()));
    };
    if items.len() > MAX_LIST_ITEMS {
        return Err(FilterError::ListTooLong {
            field: field.to_owned(),
            operator,
            len: items.len(),
        });
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            to_scalar(item).ok_or_else(|| invalid(format!("{} as item {}", describe(item), i + 1)))
        })
        .collect()
}

fn range_operand(
    field: &str,
    operator: &'static str,
    comparison: Comparison,
    operand: &Value,
) -> Result<Condition, FilterError> {
    let bound = match operand {
        Value::Number(n) => Some(Operand::Number(n.clone())),
        Value::String(s) => parse_date(s).map(Operand::Date),
        _ => None,
    };
    bound
        .map(|bound| Condition::Compare(comparison, bound))
        .ok_or_else(|| FilterError::InvalidOperand {
            field: field.to_owned(),
            operator,
            expected: "a number, or a date as YYYY-MM-DD or RFC 3339 (2024-07-01T00:00:00Z)",
            got: match operand {
                Value::String(s) => format!("the string '{}'", excerpt(s)),
                other => describe(other).to_owned(),
            },
        })
}

/// An RFC 3339 date-time, or `YYYY-MM-DD` as midnight UTC.
fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.with_timezone(&Utc));
    }
    // Checked by hand: chrono's `%Y-%m-%d` would also take "2024-7-1" or "+2024-07-01".
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Client text as error messages quote it: at most 64 characters, control characters escaped,
/// so a hostile key cannot flood a log line or forge one.
fn excerpt(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_FIELD_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Filter {
        Filter::parse(&value).unwrap_or_else(|err| panic!("{value} should parse: {err}"))
    }

    fn error(value: Value) -> String {
        match Filter::parse(&value) {
            Ok(filter) => panic!("{value} should be refused, parsed as {filter:?}"),
            Err(err) => err.to_string(),
        }
    }

    fn field(name: &str, condition: Condition) -> Filter {
        Filter::Field {
            path: FieldPath::parse(name).unwrap(),
            condition,
        }
    }

    fn string(s: &str) -> Scalar {
        Scalar::String(s.to_owned())
    }

    fn number(n: i64) -> Scalar {
        Scalar::Number(n.into())
    }

    fn sql(filter: &Filter) -> String {
        let mut qb = QueryBuilder::<Postgres>::new("");
        filter.push_sql(&mut qb, "d.metadata");
        qb.into_string()
    }

    fn date(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_scalar_value_is_equality_and_several_keys_are_anded() {
        assert_eq!(
            parse(json!({"team": "hr"})),
            field("team", Condition::Eq(string("hr")))
        );
        assert_eq!(
            parse(json!({"team": "hr", "year": 2024, "draft": false})),
            Filter::And(vec![
                field("draft", Condition::Eq(Scalar::Bool(false))),
                field("team", Condition::Eq(string("hr"))),
                field("year", Condition::Eq(number(2024))),
            ])
        );
    }

    #[test]
    fn every_field_operator_parses() {
        assert_eq!(
            parse(json!({"t": {"$eq": 1.5}})),
            field(
                "t",
                Condition::Eq(Scalar::Number(Number::from_f64(1.5).unwrap()))
            )
        );
        assert_eq!(
            parse(json!({"t": {"$ne": "hr"}})),
            field("t", Condition::Ne(string("hr")))
        );
        assert_eq!(
            parse(json!({"t": {"$in": ["hr", 2, true]}})),
            field(
                "t",
                Condition::In(vec![string("hr"), number(2), Scalar::Bool(true)])
            )
        );
        assert_eq!(
            parse(json!({"t": {"$nin": []}})),
            field("t", Condition::Nin(vec![]))
        );
        assert_eq!(
            parse(json!({"t": {"$exists": false}})),
            field("t", Condition::Exists(false))
        );
        assert_eq!(
            parse(json!({"year": {"$gte": 2020, "$lt": 2025}})),
            Filter::And(vec![
                field(
                    "year",
                    Condition::Compare(Comparison::Gte, Operand::Number(2020.into()))
                ),
                field(
                    "year",
                    Condition::Compare(Comparison::Lt, Operand::Number(2025.into()))
                ),
            ])
        );
        assert_eq!(
            parse(json!({"p": {"$gt": "2024-01-01"}})),
            field(
                "p",
                Condition::Compare(Comparison::Gt, Operand::Date(date("2024-01-01T00:00:00Z")))
            )
        );
        assert_eq!(
            parse(json!({"p": {"$lte": "2024-07-01T08:00:00+08:00"}})),
            field(
                "p",
                Condition::Compare(Comparison::Lte, Operand::Date(date("2024-07-01T00:00:00Z")))
            )
        );
    }

    #[test]
    fn logical_operators_nest_and_an_empty_object_matches_everything() {
        assert_eq!(
            parse(json!({"$or": [{"team": "hr"}, {"$not": {"year": 2024}}], "$and": [{"a.b": 1}]})),
            Filter::And(vec![
                Filter::And(vec![field("a.b", Condition::Eq(number(1)))]),
                Filter::Or(vec![
                    field("team", Condition::Eq(string("hr"))),
                    Filter::Not(Box::new(field("year", Condition::Eq(number(2024))))),
                ]),
            ])
        );
        assert_eq!(parse(json!({})), Filter::And(vec![]));
        assert_eq!(sql(&parse(json!({}))), "TRUE");
        assert_eq!(sql(&Filter::Or(vec![])), "FALSE");
    }

    #[test]
    fn dotted_names_are_paths_into_nested_objects() {
        let path = FieldPath::parse("owner.address.city").unwrap();
        assert_eq!(path.segments(), ["owner", "address", "city"]);
        assert_eq!(path.to_string(), "owner.address.city");
        assert!(FieldPath::parse("_x-1.2").is_ok());
        assert!(FieldPath::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn dates_are_rfc3339_or_a_bare_day_at_midnight_utc() {
        assert_eq!(parse_date("2024-02-29"), Some(date("2024-02-29T00:00:00Z")));
        assert_eq!(
            parse_date("2024-07-01T00:00:00.5-02:30"),
            Some(date("2024-07-01T02:30:00.5Z"))
        );
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-7-1",
            "+2024-07-01",
            "2024-07-01T00:00:00",
            "20240701",
            "2024-07-01 ",
            "soon",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn equality_binds_a_containment_document_and_no_value_reaches_the_sql_text() {
        let filter = parse(json!({"owner.name": "x'; DROP TABLE d; --"}));
        assert_eq!(sql(&filter), "(d.metadata @> $1::jsonb)");
        let filter = parse(json!({"team": {"$in": ["hr", "legal"]}}));
        assert_eq!(
            sql(&filter),
            "(d.metadata @> $1::jsonb OR d.metadata @> $2::jsonb)"
        );
        assert_eq!(
            sql(&parse(json!({"team": {"$ne": "hr"}}))),
            "((d.metadata @> $1::jsonb) IS NOT TRUE)"
        );
        assert_eq!(sql(&parse(json!({"team": {"$in": []}}))), "FALSE");
        assert_eq!(
            sql(&parse(json!({"team": {"$nin": []}}))),
            "(FALSE IS NOT TRUE)"
        );
    }

    #[test]
    fn ranges_and_exists_bind_the_path_and_guard_every_cast() {
        let number = sql(&parse(json!({"year": {"$gte": 2020}})));
        assert_eq!(
            number,
            "(CASE WHEN jsonb_typeof((d.metadata #> $1::text[])) = 'number' \
             THEN (d.metadata #>> $2::text[])::numeric >= $3::numeric ELSE FALSE END)"
        );
        let date = sql(&parse(json!({"published": {"$lt": "2024-07-01"}})));
        assert!(
            date.starts_with("(CASE WHEN (d.metadata #>> $1::text[]) ~ '^(?!0000)"),
            "{date}"
        );
        assert!(
            date.ends_with("END)::timestamptz < $5 ELSE FALSE END)"),
            "{date}"
        );
        assert!(
            !date.contains("published") && !date.contains("2024-07-01"),
            "{date}"
        );
        assert_eq!(
            sql(&parse(json!({"a.b": {"$exists": true}}))),
            "((d.metadata #> $1::text[]) IS NOT NULL)"
        );
        assert_eq!(
            sql(&parse(json!({"a": {"$exists": false}}))),
            "((d.metadata #> $1::text[]) IS NULL)"
        );
    }

    #[test]
    fn negation_is_rendered_as_is_not_true_so_null_never_leaks() {
        let filter = parse(json!({"$not": {"$or": [{"a": 1}, {"b": 2}]}}));
        assert_eq!(
            sql(&filter),
            "(((d.metadata @> $1::jsonb) OR (d.metadata @> $2::jsonb)) IS NOT TRUE)"
        );
    }

    #[test]
    fn the_date_pattern_is_safe_to_push_as_a_literal() {
        assert!(!DATE_PATTERN.contains('\'') && !DATE_PATTERN.contains('\\'));
    }

    #[test]
    fn a_filter_that_is_not_an_object_is_refused_with_its_type() {
        assert_eq!(
            error(json!([{"team": "hr"}])),
            "filter must be a JSON object, got an array"
        );
        assert_eq!(
            error(json!("team")),
            "filter must be a JSON object, got a string"
        );
        assert_eq!(error(json!(null)), "filter must be a JSON object, got null");
    }

    #[test]
    fn unknown_operators_are_refused_with_the_list_of_valid_ones() {
        assert_eq!(
            error(json!({"team": {"$regex": "h.*"}})),
            "unknown filter operator '$regex' on 'team': use one of $eq, $ne, $in, $nin, $gt, $gte, $lt, $lte, $exists"
        );
        assert_eq!(
            error(json!({"team": {"$eq": "hr", "name": "x"}})),
            "unknown filter operator 'name' on 'team': use one of $eq, $ne, $in, $nin, $gt, $gte, $lt, $lte, $exists"
        );
        assert_eq!(
            error(json!({"$nor": [{"a": 1}]})),
            "unknown logical operator '$nor': use $and, $or or $not, or a field name without '$'"
        );
    }

    #[test]
    fn injection_looking_and_malformed_field_names_are_refused() {
        let rule = "use 1 to 64 letters, digits, '_', '-' or '.', starting with a letter, digit or '_' (a '.' separates nested keys, as in 'owner.name')";
        assert_eq!(
            error(json!({"a') OR 1=1 --": 1})),
            format!("invalid field name 'a') OR 1=1 --': {rule}")
        );
        assert_eq!(
            error(json!({"": 1})),
            format!("invalid field name '': {rule}")
        );
        assert_eq!(
            error(json!({".a": 1})),
            format!("invalid field name '.a': {rule}")
        );
        assert_eq!(
            error(json!({"tëam": 1})),
            format!("invalid field name 'tëam': {rule}")
        );
        assert_eq!(
            error(json!({"a\nb": 1})),
            format!("invalid field name 'a\\nb': {rule}")
        );
        let long = "a".repeat(65);
        assert_eq!(
            error(json!({ long.clone(): 1 })),
            format!("invalid field name '{}…': {rule}", &long[..64])
        );
        assert_eq!(
            error(json!({"a..b": 1})),
            "field name 'a..b' has an empty part between dots: name nested keys like 'owner.name'"
        );
        assert_eq!(
            error(json!({"a.": 1})),
            "field name 'a.' has an empty part between dots: name nested keys like 'owner.name'"
        );
    }

    #[test]
    fn wrong_operands_say_what_was_expected_and_what_came() {
        let cases = [
            (
                json!({"t": {"$eq": [1]}}),
                "'$eq' on 't' needs a string, number or boolean, got an array",
            ),
            (
                json!({"t": {"$ne": null}}),
                "'$ne' on 't' needs a string, number or boolean, got null",
            ),
            (
                json!({"t": {"$in": "hr"}}),
                "'$in' on 't' needs an array of strings, numbers or booleans, got a string",
            ),
            (
                json!({"t": {"$nin": ["a", {"b": 1}]}}),
                "'$nin' on 't' needs an array of strings, numbers or booleans, got an object as item 2",
            ),
            (
                json!({"t": {"$gt": "2024-13-45"}}),
                "'$gt' on 't' needs a number, or a date as YYYY-MM-DD or RFC 3339 (2024-07-01T00:00:00Z), got the string '2024-13-45'",
            ),
            (
                json!({"t": {"$lte": true}}),
                "'$lte' on 't' needs a number, or a date as YYYY-MM-DD or RFC 3339 (2024-07-01T00:00:00Z), got a boolean",
            ),
            (
                json!({"t": {"$exists": 1}}),
                "'$exists' on 't' needs true or false, got a number",
            ),
            (
                json!({"$and": {"a": 1}}),
                "'$and' needs a non-empty array of filter objects, got an object",
            ),
            (
                json!({"$or": []}),
                "'$or' needs a non-empty array of filter objects, got an empty array",
            ),
            (
                json!({"$or": [{"a": 1}, "b"]}),
                "'$or' needs a non-empty array of filter objects, got a string as item 2",
            ),
            (
                json!({"$not": [{"a": 1}]}),
                "'$not' needs a filter object, got an array",
            ),
        ];
        for (filter, message) in cases {
            assert_eq!(error(filter), message);
        }
    }

    #[test]
    fn null_arrays_and_plain_objects_as_values_point_to_the_right_operator() {
        assert_eq!(
            error(json!({"team": null})),
            "'team' is compared with null: compare with a string, number or boolean, or use {\"$exists\": false} for a missing field"
        );
        assert_eq!(
            error(json!({"team": ["hr", "legal"]})),
            "'team' is compared with an array: use {\"$in\": [...]} to match any of several values"
        );
        assert_eq!(
            error(json!({"owner": {"name": "ana"}})),
            "'owner' is compared with an object without operators (key 'name'): filter a nested field with a dotted name such as 'owner.name', or use an operator such as $eq"
        );
        assert_eq!(
            error(json!({"owner": {}})),
            "'owner' has an empty operator object: add an operator such as {\"$eq\": ...}"
        );
        assert_eq!(
            error(json!({"year": {"$gte": 2020, "$lt": "2025-01-01"}})),
            "the range on 'year' mixes numbers and dates: bound a field with numbers only or dates only"
        );
    }

    #[test]
    fn nesting_is_limited_to_eight_levels() {
        let nest = |levels: usize| {
            (1..levels).fold(json!({"a": 1}), |inner, i| {
                if i % 2 == 0 {
                    json!({"$not": inner})
                } else {
                    json!({"$and": [inner]})
                }
            })
        };
        parse(nest(MAX_DEPTH));
        assert_eq!(
            error(nest(MAX_DEPTH + 1)),
            "filter is nested more than 8 levels deep: flatten $and/$or/$not (the keys of one object are already ANDed)"
        );
    }

    #[test]
    fn conditions_are_limited_to_sixty_four() {
        let fields =
            |n: usize| Value::Object((0..n).map(|i| (format!("f{i}"), json!(i))).collect());
        parse(fields(MAX_CONDITIONS));
        let message = "filter has more than 64 conditions: combine equalities on one field with $in, or narrow the filter";
        assert_eq!(error(fields(MAX_CONDITIONS + 1)), message);
        // Operators on one field and conditions spread through $or count alike.
        let spread = json!({"$or": [fields(40), fields(30)]});
        assert_eq!(error(spread), message);
        assert_eq!(
            error(json!({"y": {"$gt": 1, "$lt": 2}, "$and": [fields(63)]})),
            message
        );
    }

    #[test]
    fn in_lists_are_limited_to_256_values() {
        let list = |n: usize| Value::Array((0..n).map(|i| json!(i)).collect());
        let filter = parse(json!({"t": {"$in": list(MAX_LIST_ITEMS)}}));
        assert_eq!(sql(&filter).matches("@>").count(), MAX_LIST_ITEMS);
        assert_eq!(
            error(json!({"t": {"$nin": list(MAX_LIST_ITEMS + 1)}})),
            "'$nin' on 't' lists 257 values: use at most 256, or split the search"
        );
    }

    #[test]
    fn client_text_in_messages_is_cut_and_escaped() {
        assert_eq!(excerpt("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(excerpt(&"é".repeat(70)).chars().count(), 65);
    }
}
