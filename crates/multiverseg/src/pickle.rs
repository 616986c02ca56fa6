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
    Val(Value),
    Mark,
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

fn pop(stack: &mut Vec<Item>) -> Result<Value> {
    match stack.pop() {
        Some(Item::Val(v)) => Ok(v),
        Some(Item::Mark) => Err(Error::format("pickle: unexpected MARK")),
        None => Err(Error::format("pickle: stack underflow")),
    }
}

fn pop_mark(stack: &mut Vec<Item>) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    loop {
        match stack.pop() {
            Some(Item::Val(v)) => out.push(v),
            Some(Item::Mark) => break,
            None => return Err(Error::format("pickle: MARK not found")),
        }
    }
    out.reverse();
    Ok(out)
}

fn top_mut(stack: &mut [Item]) -> Result<&mut Value> {
    match stack.last_mut() {
        Some(Item::Val(v)) => Ok(v),
        _ => Err(Error::format("pickle: expected a value on the stack")),
    }
}

fn set_items(target: &mut Value, kv: Vec<Value>) -> Result<()> {
    if kv.len() % 2 != 0 {
        return Err(Error::format("pickle: odd number of items in SETITEMS"));
    }
    let dict = match target {
        Value::Dict(d) => d,
        _ => return Err(Error::format("pickle: SETITEM(S) on a non-dict")),
    };
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
    let mut memo: std::collections::HashMap<u32, Value> = Default::default();
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
            b'}' => stack.push(Item::Val(Value::Dict(Vec::new()))),
            b']' => stack.push(Item::Val(Value::List(Vec::new()))),
            b')' => stack.push(Item::Val(Value::Tuple(Vec::new()))),
            b'N' => stack.push(Item::Val(Value::None)),
            0x88 => stack.push(Item::Val(Value::Bool(true))),
            0x89 => stack.push(Item::Val(Value::Bool(false))),
            b'K' => {
                let v = r.u8()? as i64;
                stack.push(Item::Val(Value::Int(v)))
            }
            b'M' => {
                let v = r.u16()? as i64;
                stack.push(Item::Val(Value::Int(v)))
            }
            b'J' => {
                let v = r.u32()? as i32 as i64;
                stack.push(Item::Val(Value::Int(v)))
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
                stack.push(Item::Val(Value::Int(v)))
            }
            b'G' => {
                let v = f64::from_be_bytes(r.take(8)?.try_into().unwrap());
                stack.push(Item::Val(Value::Float(v)))
            }
            b'X' => {
                let n = r.u32()? as usize;
                let s = r.string(n)?;
                stack.push(Item::Val(Value::Str(s)))
            }
            0x8c => {
                let n = r.u8()? as usize;
                let s = r.string(n)?;
                stack.push(Item::Val(Value::Str(s)))
            }
            0x8d => {
                let n = r.u64()? as usize;
                let s = r.string(n)?;
                stack.push(Item::Val(Value::Str(s)))
            }
            b'U' => {
                let n = r.u8()? as usize;
                let s = String::from_utf8_lossy(r.take(n)?).into_owned();
                stack.push(Item::Val(Value::Str(s)))
            }
            b'T' => {
                let n = r.u32()? as usize;
                let s = String::from_utf8_lossy(r.take(n)?).into_owned();
                stack.push(Item::Val(Value::Str(s)))
            }
            b'C' => {
                let n = r.u8()? as usize;
                let b = r.take(n)?.to_vec();
                stack.push(Item::Val(Value::Bytes(b)))
            }
            b'B' => {
                let n = r.u32()? as usize;
                let b = r.take(n)?.to_vec();
                stack.push(Item::Val(Value::Bytes(b)))
            }
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                stack.push(Item::Val(Value::Global(module, name)))
            }
            0x93 => {
                // STACK_GLOBAL
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                match (module, name) {
                    (Value::Str(m), Value::Str(n)) => stack.push(Item::Val(Value::Global(m, n))),
                    _ => return Err(Error::format("pickle: STACK_GLOBAL needs two strings")),
                }
            }
            b'q' => {
                let i = r.u8()? as u32;
                memo.insert(i, top_mut(&mut stack)?.clone());
            }
            b'r' => {
                let i = r.u32()?;
                memo.insert(i, top_mut(&mut stack)?.clone());
            }
            0x94 => {
                let i = memo.len() as u32;
                memo.insert(i, top_mut(&mut stack)?.clone());
            }
            b'h' => {
                let i = r.u8()? as u32;
                let v = memo.get(&i).cloned().ok_or_else(|| Error::format("pickle: bad memo reference"))?;
                stack.push(Item::Val(v))
            }
            b'j' => {
                let i = r.u32()?;
                let v = memo.get(&i).cloned().ok_or_else(|| Error::format("pickle: bad memo reference"))?;
                stack.push(Item::Val(v))
            }
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Item::Val(Value::Tuple(items)))
            }
            0x85 | 0x86 | 0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(pop(&mut stack)?);
                }
                items.reverse();
                stack.push(Item::Val(Value::Tuple(items)))
            }
            b'l' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Item::Val(Value::List(items)))
            }
            b'd' => {
                let items = pop_mark(&mut stack)?;
                let mut d = Value::Dict(Vec::new());
                set_items(&mut d, items)?;
                stack.push(Item::Val(d))
            }
            b'a' => {
                let v = pop(&mut stack)?;
                match top_mut(&mut stack)? {
                    Value::List(l) => l.push(v),
                    _ => return Err(Error::format("pickle: APPEND on a non-list")),
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack)?;
                match top_mut(&mut stack)? {
                    Value::List(l) => l.extend(items),
                    _ => return Err(Error::format("pickle: APPENDS on a non-list")),
                }
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                set_items(top_mut(&mut stack)?, vec![k, v])?;
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                set_items(top_mut(&mut stack)?, items)?;
            }
            b'R' => {
                let args = pop(&mut stack)?;
                let func = pop(&mut stack)?;
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
                stack.push(Item::Val(v))
            }
            0x81 => {
                // NEWOBJ: cls.__new__(cls, *args)
                let args = pop(&mut stack)?;
                let cls = pop(&mut stack)?;
                let args = args.items().map(|a| a.to_vec()).unwrap_or_default();
                stack.push(Item::Val(Value::Call(Box::new(cls), args)))
            }
            b'b' => {
                // BUILD: state applied to an object; tensors and dicts carry nothing we need
                // (torch stores `_metadata` of a state_dict here).
                pop(&mut stack)?;
            }
            b'Q' => {
                let pid = pop(&mut stack)?;
                stack.push(Item::Val(Value::Persistent(Box::new(pid))))
            }
            b'0' => {
                pop(&mut stack)?;
            }
            b'2' => {
                let v = top_mut(&mut stack)?.clone();
                stack.push(Item::Val(v))
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
    fn negative_long1() {
        let data = b"\x80\x02\x8a\x02\x00\xff.";
        assert_eq!(parse(data).unwrap(), Value::Int(-256));
    }
}
