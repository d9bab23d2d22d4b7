//! Metadata filters: the JSON a client sends with a search request, validated into a
//! [`Filter`] (the tree `store::filter` defines and renders as SQL). The grammar and its semantics
//! are documented for clients in `docs/api.md` ("Metadata filters"); this module enforces them:
//! the operators, the field-name rule, the date forms and the size limits below. Every refusal is
//! a [`FilterError`] that names the offending key or operator and says how to fix it.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

pub use crate::store::filter::{
    Comparison, Condition, DATE_PATTERN, FieldPath, Filter, InvalidField, MAX_FIELD_CHARS, Operand,
    Scalar,
};

/// Nested filter objects allowed, the outermost counting as level 1.
pub const MAX_DEPTH: usize = 8;
/// Field operators allowed in one filter; bounds the SQL's size and its parameter count
/// (at most 64 × 256 containment parameters, well under PostgreSQL's 65,535).
pub const MAX_CONDITIONS: usize = 64;
/// Values allowed in one `$in` or `$nin` list.
pub const MAX_LIST_ITEMS: usize = 256;

/// Every operator allowed on a field, as error messages list them.
const FIELD_OPERATORS: &str = "$eq, $ne, $in, $nin, $gt, $gte, $lt, $lte, $exists";

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
}

impl FieldPath {
    /// Validates a field name from client JSON: `^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`, no empty
    /// part between dots; the refusal quotes the name safely.
    pub fn parse(name: &str) -> Result<FieldPath, FilterError> {
        FieldPath::new(name).map_err(|invalid| match invalid {
            InvalidField::Characters => FilterError::InvalidField {
                field: excerpt(name),
            },
            InvalidField::EmptySegment => FilterError::EmptyPathSegment {
                field: name.to_owned(),
            },
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Number;
    use serde_json::json;
    use sqlx::{Postgres, QueryBuilder};

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

/// Properties of the parser on hostile input: it never panics, whatever JSON arrives; and no
/// client text ever reaches the SQL text — keys and values are validated and bound. Bounded for
/// CI; `PROPTEST_CASES=100000 cargo test --lib search::filter::properties` runs a longer session.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};
    use sqlx::{Postgres, QueryBuilder};

    use super::{FieldPath, Filter, FilterError, MAX_FIELD_CHARS};

    /// Client text, marked so it can be looked for in the SQL: `zq` never occurs in the SQL
    /// this module writes.
    fn client_text() -> impl Strategy<Value = String> {
        "[a-z0-9_.$-]{0,8}".prop_map(|s| format!("zq{s}"))
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            client_text().prop_map(Value::String),
            any::<i64>().prop_map(|n| json!(n)),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
            Just(json!("2024-02-29")),
            Just(json!("2024-07-01T08:00:00+08:00")),
        ]
    }

    const OPERATORS: &[&str] = &[
        "$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists", "$and", "$or",
        "$not", "$regex", "zq",
    ];

    /// Arbitrary JSON shaped like filters: objects whose keys are field names or operators,
    /// nested a few levels, with scalars and lists as leaves.
    fn filter_like() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            scalar(),
            prop::collection::vec(scalar(), 0..4).prop_map(Value::Array)
        ];
        leaf.prop_recursive(6, 48, 4, |inner| {
            let key = prop_oneof![
                client_text(),
                prop::sample::select(OPERATORS).prop_map(str::to_owned),
            ];
            prop_oneof![
                prop::collection::vec((key, inner.clone()), 0..4)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
                prop::collection::vec(inner, 0..4).prop_map(Value::Array),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512)
        ))]

        #[test]
        fn parsing_never_panics_and_client_text_never_reaches_the_sql(value in filter_like()) {
            if let Ok(filter) = Filter::parse(&value) {
                let mut qb = QueryBuilder::<Postgres>::new("");
                filter.push_sql(&mut qb, "d.metadata");
                let sql = qb.into_string();
                prop_assert!(!sql.contains("zq"), "client text in the SQL: {sql}");
            }
        }

        #[test]
        fn any_string_as_a_field_name_is_accepted_only_when_safe(name in ".{0,80}") {
            match FieldPath::parse(&name) {
                Ok(path) => {
                    prop_assert!(name.len() <= MAX_FIELD_CHARS);
                    prop_assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
                    prop_assert_eq!(path.to_string(), name);
                }
                Err(err) => {
                    // The refusal quotes at most 64 characters, with control characters escaped.
                    let message = err.to_string();
                    prop_assert!(!message.chars().any(char::is_control), "{message:?}");
                }
            }
        }

        #[test]
        fn nesting_far_past_the_limit_is_refused_without_overflowing(depth in 9usize..400) {
            let mut value = json!({"team": "hr"});
            for _ in 0..depth {
                value = json!({"$not": value});
            }
            prop_assert_eq!(Filter::parse(&value), Err(FilterError::TooDeep));
        }
    }
}
