//! The Java interface (bindings/java) and the C++ wrapper (bindings/cpp) mirror the C
//! header by hand; this test parses include/multiverseg.h and fails, naming the item, when a
//! function, a status or enum value, or a struct field is missing or different in them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    let p = repo().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The text without // and /* */ comments.
fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("//") {
            rest = r.find('\n').map_or("", |i| &r[i..]);
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.find("*/").map_or("", |i| &r[i + 2..]);
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The C API as the header declares it.
struct Header {
    /// Function name -> number of parameters.
    functions: BTreeMap<String, usize>,
    /// Enum name -> (value name, value) in order.
    enums: BTreeMap<String, Vec<(String, i64)>>,
    /// Struct name -> field names in order.
    structs: BTreeMap<String, Vec<String>>,
}

fn parse_header() -> Header {
    let text = strip_comments(&read("crates/multiverseg-capi/include/multiverseg.h"));
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut functions = BTreeMap::new();
    for (i, _) in flat.match_indices("mvs_") {
        // A function name follows a space or the '*' of a pointer return type.
        if !(i > 0 && matches!(flat.as_bytes()[i - 1], b' ' | b'*')) {
            continue;
        }
        let name_start = i;
        let rest = &flat[name_start..];
        let Some(open) = rest.find('(') else { continue };
        let name = &rest[..open];
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let close = rest.find(')').unwrap();
        // Declarations end with ");" (callback typedefs and uses inside are skipped).
        if !rest[close..].starts_with(");") && !rest[close..].starts_with(") ;") {
            continue;
        }
        let params = rest[open + 1..close].trim();
        let n = if params == "void" || params.is_empty() {
            0
        } else {
            params.split(',').count()
        };
        functions.insert(name.to_string(), n);
    }
    let mut enums = BTreeMap::new();
    for (i, _) in flat.match_indices("typedef enum ") {
        let rest = &flat[i + "typedef enum ".len()..];
        let name = rest.split_whitespace().next().unwrap().to_string();
        let body = &rest[rest.find('{').unwrap() + 1..rest.find('}').unwrap()];
        let values = body
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| {
                let (k, x) = v.split_once('=').expect("explicit enum values");
                (k.trim().to_string(), x.trim().parse().unwrap())
            })
            .collect();
        enums.insert(name, values);
    }
    let mut structs = BTreeMap::new();
    for (i, _) in flat.match_indices("typedef struct ") {
        let rest = &flat[i + "typedef struct ".len()..];
        let name = rest.split_whitespace().next().unwrap().to_string();
        let (Some(open), Some(semi)) = (rest.find('{'), rest.find(';')) else {
            continue;
        };
        if semi < open {
            continue; // an opaque handle: typedef struct MvsModel MvsModel;
        }
        let body = &rest[open + 1..rest.find('}').unwrap()];
        let fields = body
            .split(';')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(|f| f.rsplit([' ', '*']).next().unwrap().to_string())
            .collect();
        structs.insert(name, fields);
    }
    Header {
        functions,
        enums,
        structs,
    }
}

#[test]
fn the_header_parses_into_what_the_bindings_must_mirror() {
    let h = parse_header();
    // Guards against a parser that finds nothing and so checks nothing.
    assert!(h.functions.len() >= 35, "{:?}", h.functions.keys());
    assert_eq!(h.functions["mvs_session_predict_batch"], 7);
    assert_eq!(h.functions["mvs_version"], 0);
    assert!(h.enums["MvsStatus"].len() >= 10);
    assert_eq!(h.structs["MvsImage"][0], "data");
    assert_eq!(h.structs["MvsModelOptions"][0], "struct_size");
}

/// The Java methods of CApi.java: name -> parameter count.
fn java_methods(src: &str) -> BTreeMap<String, usize> {
    let flat = strip_comments(src)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = BTreeMap::new();
    for (i, _) in flat.match_indices(" mvs_") {
        let rest = &flat[i + 1..];
        let Some(open) = rest.find('(') else { continue };
        let name = &rest[..open];
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        // A declaration ends with ");", a call inside a default method would not.
        let close = rest.find(')').unwrap();
        if !rest[close..].starts_with(");") {
            continue;
        }
        let params = rest[open + 1..close].trim();
        out.insert(
            name.to_string(),
            if params.is_empty() {
                0
            } else {
                params.split(',').count()
            },
        );
    }
    out
}

#[test]
fn java_capi_declares_every_function_with_its_arity() {
    let h = parse_header();
    let java = java_methods(&read(
        "bindings/java/src/main/java/org/multiverseg/CApi.java",
    ));
    let mut problems = Vec::new();
    for (name, n) in &h.functions {
        match java.get(name) {
            None => problems.push(format!("{name}: missing in CApi.java")),
            Some(m) if m != n => problems.push(format!(
                "{name}: {m} parameters in CApi.java, {n} in the header"
            )),
            _ => {}
        }
    }
    for name in java.keys() {
        if !h.functions.contains_key(name) {
            problems.push(format!("{name}: in CApi.java but not in the header"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn java_structures_have_the_header_fields_in_order() {
    let h = parse_header();
    let src = strip_comments(&read(
        "bindings/java/src/main/java/org/multiverseg/CApi.java",
    ));
    for (name, fields) in &h.structs {
        let class = src
            .find(&format!("class {name} extends Structure"))
            .unwrap_or_else(|| panic!("struct {name}: no JNA Structure in CApi.java"));
        let order_at = src[..class]
            .rfind("@Structure.FieldOrder(")
            .unwrap_or_else(|| panic!("struct {name}: no @Structure.FieldOrder"));
        let list = &src[order_at..class];
        let list = &list[list.find('{').unwrap() + 1..list.find('}').unwrap()];
        let got: Vec<String> = list
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(
            &got, fields,
            "struct {name}: Java field order differs from the header"
        );
    }
}

/// `NAME(value)` entries of a Java enum, or `NAME = value;` constants.
fn java_values(src: &str) -> BTreeMap<String, i64> {
    let src = strip_comments(src);
    let mut out = BTreeMap::new();
    for tok in src.split([',', ';']) {
        let t = tok.trim();
        if let Some((k, v)) = t.split_once('(') {
            let k = k.split_whitespace().last().unwrap_or("");
            if k.chars().all(|c| c.is_ascii_uppercase() || c == '_') && !k.is_empty() {
                if let Ok(v) = v.trim_end_matches(')').trim().parse() {
                    out.insert(k.to_string(), v);
                }
            }
        } else if let Some((k, v)) = t.split_once('=') {
            let k = k.split_whitespace().last().unwrap_or("");
            if let Ok(v) = v.trim().parse() {
                out.insert(k.to_string(), v);
            }
        }
    }
    out
}

#[test]
fn java_statuses_and_enums_match_the_header() {
    let h = parse_header();
    let java = |f: &str| {
        java_values(&read(&format!(
            "bindings/java/src/main/java/org/multiverseg/{f}"
        )))
    };
    let checks = [
        ("MvsStatus", "MVS_ERR_", java("MvsException.java")),
        ("MvsBackend", "MVS_BACKEND_", java("Backend.java")),
        ("MvsContextSelect", "MVS_SELECT_", java("Select.java")),
        (
            "MvsAfterPrompt",
            "MVS_AFTER_PROMPT_",
            java("AfterPrompt.java"),
        ),
    ];
    let mut problems = Vec::new();
    for (e, prefix, got) in &checks {
        for (k, v) in &h.enums[*e] {
            let Some(short) = k.strip_prefix(prefix) else {
                continue;
            }; // MVS_OK
            match got.get(short) {
                Some(x) if x == v => {}
                Some(x) => problems.push(format!("{k}: {x} in Java, {v} in the header")),
                None => problems.push(format!("{k}: no {short} in the Java mirror of {e}")),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_cpp_wrapper_calls_every_function_and_names_every_enum_value() {
    let h = parse_header();
    let cpp = strip_comments(&read("bindings/cpp/multiverseg.hpp"));
    let mut problems = Vec::new();
    for name in h.functions.keys() {
        if !cpp.contains(&format!("{name}(")) {
            problems.push(format!("{name}: not wrapped in multiverseg.hpp"));
        }
    }
    for e in [
        "MvsBackend",
        "MvsContextSelect",
        "MvsLogLevel",
        "MvsAfterPrompt",
    ] {
        for (k, _) in &h.enums[e] {
            if !cpp.contains(k.as_str()) {
                problems.push(format!("{k}: no C++ enum value for it"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
