//! A source that reads JSON and JSON Lines files, streamed: a file is never read whole into
//! memory. A `.json` file may hold one array of items (streamed element by element), one
//! object, or several concatenated objects; `.jsonl` / `.ndjson` files hold one item per line.

use futures::StreamExt;
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use sluice_core::{Error, ResourceHints, Result, Source, SourceEvent, SourceStream};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use tokio::sync::mpsc;

/// Items per page handed to the normalizer.
pub const PAGE_SIZE: usize = 1000;

/// JSON / JSONL files loaded into one table.
#[derive(Debug, Clone)]
pub struct FileSource {
    source_name: String,
    hints: ResourceHints,
    paths: Vec<PathBuf>,
}

impl FileSource {
    /// Files loaded into the resource (table) `resource`; the source (schema) has the same name
    /// until [`FileSource::with_source_name`] changes it.
    pub fn new(resource: &str, paths: Vec<PathBuf>) -> Self {
        Self {
            source_name: resource.to_string(),
            hints: ResourceHints::new(resource),
            paths,
        }
    }

    /// Set the source (schema) name.
    pub fn with_source_name(mut self, name: &str) -> Self {
        self.source_name = name.to_string();
        self
    }

    /// Set the resource hints (write disposition, keys, nesting, contract).
    pub fn with_hints(mut self, hints: ResourceHints) -> Self {
        self.hints = hints;
        self
    }
}

impl Source for FileSource {
    fn name(&self) -> &str {
        &self.source_name
    }

    fn resources(&self) -> Vec<ResourceHints> {
        vec![self.hints.clone()]
    }

    fn extract(self: Box<Self>, _state: serde_json::Value) -> SourceStream {
        let (tx, rx) = mpsc::channel::<Result<SourceEvent>>(4);
        let resource = self.hints.name.clone();
        let paths = self.paths.clone();
        tokio::task::spawn_blocking(move || {
            for path in paths {
                let sender = PageSender {
                    tx: &tx,
                    resource: &resource,
                    page: Vec::with_capacity(PAGE_SIZE),
                };
                if let Err(e) = read_file(&path, sender) {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        });
        tokio_stream_from(rx)
    }
}

fn tokio_stream_from(mut rx: mpsc::Receiver<Result<SourceEvent>>) -> SourceStream {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

struct PageSender<'a> {
    tx: &'a mpsc::Sender<Result<SourceEvent>>,
    resource: &'a str,
    page: Vec<serde_json::Value>,
}

impl PageSender<'_> {
    fn push(&mut self, item: serde_json::Value) -> bool {
        self.page.push(item);
        if self.page.len() >= PAGE_SIZE {
            return self.flush();
        }
        true
    }

    /// Send the page; false when the receiver is gone (the run was cancelled).
    fn flush(&mut self) -> bool {
        if self.page.is_empty() {
            return true;
        }
        let items = std::mem::replace(&mut self.page, Vec::with_capacity(PAGE_SIZE));
        self.tx
            .blocking_send(Ok(SourceEvent::Page {
                resource: self.resource.to_string(),
                items,
            }))
            .is_ok()
    }
}

fn read_file(path: &PathBuf, mut sender: PageSender<'_>) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| {
        Error::input(format!("cannot open input file {}", path.display())).with_source(e)
    })?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let first = first_non_whitespace(&mut reader)
        .map_err(|e| Error::input(format!("cannot read {}", path.display())).with_source(e))?;
    let bad = |e: serde_json::Error| {
        Error::input(format!(
            "malformed JSON in {} at line {}, column {}: {}",
            path.display(),
            e.line(),
            e.column(),
            strip_position(&e.to_string())
        ))
    };
    match first {
        None => Ok(()),
        Some(b'[') => {
            let mut de = serde_json::Deserializer::from_reader(reader);
            de.deserialize_seq(ArrayItems {
                sender: &mut sender,
            })
            .map_err(bad)?;
            de.end().map_err(bad)?;
            sender.flush();
            Ok(())
        }
        Some(_) => {
            let stream =
                serde_json::Deserializer::from_reader(reader).into_iter::<serde_json::Value>();
            for item in stream {
                if !sender.push(item.map_err(bad)?) {
                    return Ok(());
                }
            }
            sender.flush();
            Ok(())
        }
    }
}

fn strip_position(msg: &str) -> &str {
    msg.find(" at line ").map(|i| &msg[..i]).unwrap_or(msg)
}

fn first_non_whitespace<R: Read>(reader: &mut BufReader<R>) -> std::io::Result<Option<u8>> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        // Skip a UTF-8 byte order mark and whitespace.
        let skip = buf
            .iter()
            .position(|b| !b" \t\r\n".contains(b) && *b != 0xEF && *b != 0xBB && *b != 0xBF);
        match skip {
            Some(i) => {
                let b = buf[i];
                reader.consume(i);
                return Ok(Some(b));
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

/// Streams the elements of a top-level JSON array into pages.
struct ArrayItems<'a, 'b> {
    sender: &'a mut PageSender<'b>,
}

impl<'de> Visitor<'de> for ArrayItems<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(item) = seq.next_element::<serde_json::Value>()? {
            if !self.sender.push(item) {
                // Receiver gone: drain without keeping items.
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                return Ok(());
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for ArrayItems<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(path: &std::path::Path) -> Result<Vec<serde_json::Value>> {
        let src = Box::new(FileSource::new("t", vec![path.to_path_buf()]));
        let mut stream = src.extract(serde_json::Value::Null);
        let mut items = Vec::new();
        while let Some(ev) = stream.next().await {
            if let SourceEvent::Page { items: page, .. } = ev? {
                items.extend(page);
            }
        }
        Ok(items)
    }

    #[tokio::test]
    async fn reads_arrays_objects_and_lines() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        let items: Vec<_> = (0..2500).map(|i| serde_json::json!({"id": i})).collect();
        std::fs::write(&a, serde_json::to_vec(&items).unwrap()).unwrap();
        assert_eq!(collect(&a).await.unwrap().len(), 2500);
        let o = dir.path().join("o.json");
        std::fs::write(&o, "  {\"id\": 1, \"x\": [1,2]}\n").unwrap();
        assert_eq!(collect(&o).await.unwrap().len(), 1);
        let l = dir.path().join("l.jsonl");
        std::fs::write(&l, "{\"id\":1}\n{\"id\":2}\n\n{\"id\":3}\n").unwrap();
        assert_eq!(collect(&l).await.unwrap().len(), 3);
        let e = dir.path().join("e.json");
        std::fs::write(&e, "").unwrap();
        assert!(collect(&e).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn malformed_json_names_file_and_position() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.json");
        std::fs::write(&p, "[{\"id\": 1},\n {\"id\": 2,,}]").unwrap();
        let err = collect(&p).await.unwrap_err().to_string();
        assert!(err.contains("bad.json"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let missing = collect(&dir.path().join("nope.json")).await.unwrap_err();
        assert!(missing.to_string().contains("nope.json"));
    }
}
