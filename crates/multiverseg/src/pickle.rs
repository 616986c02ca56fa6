//! A pickle reader for the subset of the format that `torch.save` writes
//! (protocols 2-5): enough to rebuild dicts of tensors, never arbitrary objects.
//!
//! Globals are not imported or called: a `REDUCE` of a global becomes
//! [`Value::Call`], which the checkpoint reader interprets for the few callables
//! it knows (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`, ...).

use crate::error::{Error, Result};

/// A value on the unpickler's stack.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// A boolean.
    Bool(bool),
    /// An integer that fits i64.
    Int(i64),
    /// A float.
    Float(f64),
    /// A text string.
    Str(String),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A list.
    List(Vec<Value>),
    /// A dict (insertion order kept, as for OrderedDict).
    Dict(Vec<(Value, Value)>),
    /// A reference to `module.name`, never resolved.
    Global(String, String),
    /// `callable(*args)`, recorded rather than executed.
    Call(Box<Value>, Vec<Value>),
    /// A persistent id (torch uses it for tensor storages).
    Persistent(Box<Value>),
}

impl Value {
    /// The tuple or list items, if this is one.
    pub fn items(&self) -> Option<&[Value]> {
        match self {
            Value::Tuple(v) | Value::List(v) => Some(v),
            _ => None,
        }
    }
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

enum Item {
    /// A value and its nesting depth (1 for a scalar).
    Val(Value, u32),
    Mark,
}

/// Deepest nesting accepted: deeper values would overflow the stack when dropped or
/// compared (a checkpoint nests four levels).
const MAX_DEPTH: u32 = 200;
/// Most values the memo may copy onto the stack in total (each GET clones a value): a few
/// bytes of opcodes could otherwise build exponentially large structures.
const MAX_COPIED: usize = 1 << 22;
/// Most items in one dict (a state dict has hundreds).
const MAX_DICT: usize = 1 << 16;

impl Value {
    /// Number of values inside (itself included), counting at most `cap`.
    fn weight(&self, cap: usize) -> usize {
        let mut n = 1;
        let children: Vec<&Value> = match self {
            Value::Tuple(v) | Value::List(v) => v.iter().collect(),
            Value::Call(f, a) => std::iter::once(f.as_ref()).chain(a.iter()).collect(),
            Value::Dict(d) => d.iter().flat_map(|(k, v)| [k, v]).collect(),
            Value::Persistent(p) => vec![p.as_ref()],
            _ => Vec::new(),
        };
        for c in children {
            if n >= cap {
                break;
            }
            n += c.weight(cap - n);
        }
        n
    }
}

/// Pushes a value made of `children` (their depths), checking the nesting limit.
fn push_container(stack: &mut Vec<Item>, v: Value, children: &[u32]) -> Result<()> {
    let d = 1 + children.iter().copied().max().unwrap_or(0);
    if d > MAX_DEPTH {
        return Err(Error::format(format!(
            "pickle nests deeper than {MAX_DEPTH} levels (not a torch.save checkpoint?)"
        )));
    }
    stack.push(Item::Val(v, d));
    Ok(())
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.data.len() - self.pos < n {
            return Err(Error::format("pickle data is truncated"));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn line(&mut self) -> Result<String> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| Error::format("pickle data is truncated (no newline)"))?;
        self.pos += end + 1;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }
    fn string(&mut self, n: usize) -> Result<String> {
        String::from_utf8(self.take(n)?.to_vec())
            .map_err(|_| Error::format("pickle string is not UTF-8"))
    }
}

fn pop_d(stack: &mut Vec<Item>) -> Result<(Value, u32)> {
    match stack.pop() {
        Some(Item::Val(v, d)) => Ok((v, d)),
        Some(Item::Mark) => Err(Error::format("pickle: unexpected MARK")),
        None => Err(Error::format("pickle: stack underflow")),
    }
}

fn pop(stack: &mut Vec<Item>) -> Result<Value> {
    pop_d(stack).map(|(v, _)| v)
}

fn pop_mark(stack: &mut Vec<Item>) -> Result<(Vec<Value>, Vec<u32>)> {
    let mut out = Vec::new();
    let mut depths = Vec::new();
    loop {
        match stack.pop() {
            Some(Item::Val(v, d)) => {
                out.push(v);
                depths.push(d);
            }
            Some(Item::Mark) => break,
            None => return Err(Error::format("pickle: MARK not found")),
        }
    }
    out.reverse();
    Ok((out, depths))
}

/// The top value and its depth, for in-place updates (APPEND, SETITEM); the depth is
/// raised to cover what is added.
fn top_mut(stack: &mut [Item]) -> Result<(&mut Value, &mut u32)> {
    match stack.last_mut() {
        Some(Item::Val(v, d)) => Ok((v, d)),
        _ => Err(Error::format("pickle: expected a value on the stack")),
    }
}

/// Raises a container's depth to hold children of `child` depth, checking the limit.
fn deepen(d: &mut u32, child: u32) -> Result<()> {
    *d = (*d).max(child + 1);
    if *d > MAX_DEPTH {
        return Err(Error::format(format!(
            "pickle nests deeper than {MAX_DEPTH} levels (not a torch.save checkpoint?)"
        )));
    }
    Ok(())
}

fn set_items(target: &mut Value, kv: Vec<Value>) -> Result<()> {
    if !kv.len().is_multiple_of(2) {
        return Err(Error::format("pickle: odd number of items in SETITEMS"));
    }
    let dict = match target {
        Value::Dict(d) => d,
        _ => return Err(Error::format("pickle: SETITEM(S) on a non-dict")),
    };
    if dict.len() + kv.len() / 2 > MAX_DICT {
        return Err(Error::format(format!(
            "pickle dict with more than {MAX_DICT} items (not a torch.save checkpoint?)"
        )));
    }
    let mut it = kv.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if let Some(slot) = dict.iter_mut().find(|(ek, _)| *ek == k) {
            slot.1 = v;
        } else {
            dict.push((k, v));
        }
    }
    Ok(())
}

/// Parses one pickle stream and returns the object it builds.
pub fn parse(data: &[u8]) -> Result<Value> {
    let mut r = Reader { data, pos: 0 };
    let mut stack: Vec<Item> = Vec::new();
    let mut memo: std::collections::HashMap<u32, (Value, u32)> = Default::default();
    let mut copied = 0usize;
    // A memo GET or DUP clones a value: count what is copied against MAX_COPIED.
    fn copy(v: &Value, copied: &mut usize) -> Result<()> {
        *copied += v.weight(MAX_COPIED + 1);
        if *copied > MAX_COPIED {
            return Err(Error::format(
                "pickle copies more than 4M values through its memo (not a torch.save checkpoint?)",
            ));
        }
        Ok(())
    }
    loop {
        let op = r.u8()?;
        match op {
            0x80 => {
                r.u8()?; // PROTO
            }
            0x95 => {
                r.u64()?; // FRAME: framing is irrelevant when the whole stream is in memory
            }
            b'.' => return pop(&mut stack), // STOP
            b'(' => stack.push(Item::Mark),
            b'}' => stack.push(Item::Val(Value::Dict(Vec::new()), 1)),
            b']' => stack.push(Item::Val(Value::List(Vec::new()), 1)),
            b')' => stack.push(Item::Val(Value::Tuple(Vec::new()), 1)),
            b'N' => stack.push(Item::Val(Value::None, 1)),
            0x88 => stack.push(Item::Val(Value::Bool(true), 1)),
            0x89 => stack.push(Item::Val(Value::Bool(false), 1)),
            b'K' => {
                let v = r.u8()? as i64;
                stack.push(Item::Val(Value::Int(v), 1))
            }
            b'M' => {
                let v = r.u16()? as i64;
                stack.push(Item::Val(Value::Int(v), 1))
            }
            b'J' => {
                let v = r.u32()? as i32 as i64;
                stack.push(Item::Val(Value::Int(v), 1))
            }
            0x8a => {
                // LONG1: little-endian two's complement of n bytes
                let n = r.u8()? as usize;
                let b = r.take(n)?;
                if n > 8 {
                    return Err(Error::format("pickle: integer too large"));
                }
                let mut v: i64 = 0;
                for (i, &x) in b.iter().enumerate() {
                    v |= (x as i64) << (8 * i);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Item::Val(Value::Int(v), 1))
            }
            b'G' => {
                let v = f64::from_be_bytes(r.take(8)?.try_into().unwrap());
                stack.push(Item::Val(Value::Float(v), 1))
            }
            b'X' => {
                let n = r.u32()? as usize;
                let s = r.string(n)?;
                stack.push(Item::Val(Value::Str(s), 1))
            }
            0x8c => {
                let n = r.u8()? as usize;
                let s = r.string(n)?;
                stack.push(Item::Val(Value::Str(s), 1))
            }
            0x8d => {
                let n = r.u64()? as usize;
                let s = r.string(n)?;
                stack.push(Item::Val(Value::Str(s), 1))
            }
            b'U' => {
                let n = r.u8()? as usize;
                let s = String::from_utf8_lossy(r.take(n)?).into_owned();
                stack.push(Item::Val(Value::Str(s), 1))
            }
            b'T' => {
                let n = r.u32()? as usize;
                let s = String::from_utf8_lossy(r.take(n)?).into_owned();
                stack.push(Item::Val(Value::Str(s), 1))
            }
            b'C' => {
                let n = r.u8()? as usize;
                let b = r.take(n)?.to_vec();
                stack.push(Item::Val(Value::Bytes(b), 1))
            }
            b'B' => {
                let n = r.u32()? as usize;
                let b = r.take(n)?.to_vec();
                stack.push(Item::Val(Value::Bytes(b), 1))
            }
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                stack.push(Item::Val(Value::Global(module, name), 1))
            }
            0x93 => {
                // STACK_GLOBAL
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                match (module, name) {
                    (Value::Str(m), Value::Str(n)) => stack.push(Item::Val(Value::Global(m, n), 1)),
                    _ => return Err(Error::format("pickle: STACK_GLOBAL needs two strings")),
                }
            }
            b'q' | b'r' | 0x94 => {
                let i = match op {
                    b'q' => r.u8()? as u32,
                    b'r' => r.u32()?,
                    _ => memo.len() as u32,
                };
                let (v, d) = top_mut(&mut stack)?;
                let v = v.clone();
                copy(&v, &mut copied)?;
                memo.insert(i, (v, *d));
            }
            b'h' | b'j' => {
                let i = if op == b'h' { r.u8()? as u32 } else { r.u32()? };
                let (v, d) = memo
                    .get(&i)
                    .ok_or_else(|| Error::format("pickle: bad memo reference"))?;
                copy(v, &mut copied)?;
                stack.push(Item::Val(v.clone(), *d))
            }
            b't' => {
                let (items, depths) = pop_mark(&mut stack)?;
                push_container(&mut stack, Value::Tuple(items), &depths)?
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                let mut depths = Vec::with_capacity(n);
                for _ in 0..n {
                    let (v, d) = pop_d(&mut stack)?;
                    items.push(v);
                    depths.push(d);
                }
                items.reverse();
                push_container(&mut stack, Value::Tuple(items), &depths)?
            }
            b'l' => {
                let (items, depths) = pop_mark(&mut stack)?;
                push_container(&mut stack, Value::List(items), &depths)?
            }
            b'd' => {
                let (items, depths) = pop_mark(&mut stack)?;
                let mut d = Value::Dict(Vec::new());
                set_items(&mut d, items)?;
                push_container(&mut stack, d, &depths)?
            }
            b'a' => {
                let (v, vd) = pop_d(&mut stack)?;
                let (top, d) = top_mut(&mut stack)?;
                deepen(d, vd)?;
                match top {
                    Value::List(l) => l.push(v),
                    _ => return Err(Error::format("pickle: APPEND on a non-list")),
                }
            }
            b'e' => {
                let (items, depths) = pop_mark(&mut stack)?;
                let (top, d) = top_mut(&mut stack)?;
                deepen(d, depths.iter().copied().max().unwrap_or(0))?;
                match top {
                    Value::List(l) => l.extend(items),
                    _ => return Err(Error::format("pickle: APPENDS on a non-list")),
                }
            }
            b's' => {
                let (v, vd) = pop_d(&mut stack)?;
                let (k, kd) = pop_d(&mut stack)?;
                let (top, d) = top_mut(&mut stack)?;
                deepen(d, vd.max(kd))?;
                set_items(top, vec![k, v])?;
            }
            b'u' => {
                let (items, depths) = pop_mark(&mut stack)?;
                let (top, d) = top_mut(&mut stack)?;
                deepen(d, depths.iter().copied().max().unwrap_or(0))?;
                set_items(top, items)?;
            }
            b'R' => {
                let (args, ad) = pop_d(&mut stack)?;
                let (func, fd) = pop_d(&mut stack)?;
                let args = match args {
                    Value::Tuple(a) => a,
                    _ => return Err(Error::format("pickle: REDUCE arguments are not a tuple")),
                };
                let v = match &func {
                    // An OrderedDict is a dict whose items follow via SETITEMS.
                    Value::Global(m, n) if m == "collections" && n == "OrderedDict" && args.is_empty() => {
                        Value::Dict(Vec::new())
                    }
                    _ => Value::Call(Box::new(func), args),
                };
                push_container(&mut stack, v, &[ad, fd])?
            }
            0x81 => {
                // NEWOBJ: cls.__new__(cls, *args)
                let (args, ad) = pop_d(&mut stack)?;
                let (cls, cd) = pop_d(&mut stack)?;
                let args = args.items().map(|a| a.to_vec()).unwrap_or_default();
                push_container(&mut stack, Value::Call(Box::new(cls), args), &[ad, cd])?
            }
            b'b' => {
                // BUILD: state applied to an object; tensors and dicts carry nothing we need
                // (torch stores `_metadata` of a state_dict here).
                pop(&mut stack)?;
            }
            b'Q' => {
                let (pid, d) = pop_d(&mut stack)?;
                push_container(&mut stack, Value::Persistent(Box::new(pid)), &[d])?
            }
            b'0' => {
                pop(&mut stack)?;
            }
            b'2' => {
                let (v, d) = top_mut(&mut stack)?;
                let (v, d) = (v.clone(), *d);
                copy(&v, &mut copied)?;
                stack.push(Item::Val(v, d))
            }
            other => {
                return Err(Error::format(format!(
                    "pickle opcode 0x{other:02x} at byte {} is not supported (not a torch.save checkpoint?)",
                    r.pos - 1
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_protocol2_dict_of_tuple() {
        // pickle.dumps({'a': (1, 2.5, 'x')}, protocol=2)
        let data = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01G@\x04\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00xq\x02\x87q\x03s.";
        let v = parse(data).unwrap();
        assert_eq!(
            v,
            Value::Dict(vec![(
                Value::Str("a".into()),
                Value::Tuple(vec![
                    Value::Int(1),
                    Value::Float(2.5),
                    Value::Str("x".into())
                ])
            )])
        );
    }

    #[test]
    fn truncated_stream_is_an_error() {
        let data = b"\x80\x02}q\x00X\x01\x00\x00";
        assert!(parse(data).is_err());
    }

    #[test]
    fn deep_nesting_and_exponential_copies_are_errors() {
        // 100k empty tuples nested by "(" ... "t": must fail, not overflow the stack.
        let mut deep = b"\x80\x02".to_vec();
        deep.extend(std::iter::repeat_n(b'(', 100_000));
        deep.extend(std::iter::repeat_n(b't', 100_000));
        deep.push(b'.');
        let e = parse(&deep).unwrap_err();
        assert!(e.message.contains("deeper"), "{}", e.message);
        // A list that doubles through the memo 40 times (2^40 values from 300 bytes).
        let mut laughs = b"\x80\x02]q\x00".to_vec();
        for i in 0..40u8 {
            // [x, x] where x is memo i, stored as memo i + 1
            laughs.extend([b'(', b'h', i, b'h', i, b'l', b'q', i + 1]);
        }
        laughs.push(b'.');
        let e = parse(&laughs).unwrap_err();
        assert!(e.message.contains("copies"), "{}", e.message);
    }

    #[test]
    fn negative_long1() {
        let data = b"\x80\x02\x8a\x02\x00\xff.";
        assert_eq!(parse(data).unwrap(), Value::Int(-256));
    }
}
