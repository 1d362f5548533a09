//! Parquet load files: written in full to a temporary name and renamed, read back as batches.

use crate::error::{Error, Result, ResultExt};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Rows per Parquet row group: large enough for readers, small enough to bound memory.
pub const ROW_GROUP_SIZE: usize = 128 * 1024;

/// Dictionary size per column after which a column falls back to plain encoding (the writer keeps
/// the dictionary and its hash table in memory for every open column).
pub const DICTIONARY_PAGE_BYTES: usize = 256 * 1024;

/// Target size of a data page; each open column buffers one before compressing it.
pub const DATA_PAGE_BYTES: usize = 256 * 1024;

/// A row group is closed early once the writer's buffers (encoded pages, dictionaries, levels)
/// reach this size, so that a wide table does not hold ~[`ROW_GROUP_SIZE`] rows of them in memory
/// per open file.
pub const ROW_GROUP_BYTES: usize = 4 * 1024 * 1024;

/// Writes one Parquet file; the file appears under its final name only after [`finish`](Self::finish).
pub struct ParquetFileWriter {
    tmp_path: PathBuf,
    final_path: PathBuf,
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    rows: u64,
}

impl ParquetFileWriter {
    /// Start a file that will be renamed to `final_path` when finished.
    pub fn create(final_path: &Path, schema: SchemaRef) -> Result<Self> {
        let tmp_path = final_path.with_extension("parquet.tmp");
        let file =
            File::create(&tmp_path).context(format!("cannot create {}", tmp_path.display()))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_dictionary_page_size_limit(DICTIONARY_PAGE_BYTES)
            .set_data_page_size_limit(DATA_PAGE_BYTES)
            .set_max_row_group_row_count(Some(ROW_GROUP_SIZE))
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
        Ok(Self {
            tmp_path,
            final_path: final_path.to_path_buf(),
            writer,
            schema,
            rows: 0,
        })
    }

    /// The schema of the file.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Append a batch (its schema must equal the file's).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch)?;
        self.rows += batch.num_rows() as u64;
        if self.writer.memory_size() >= ROW_GROUP_BYTES {
            self.writer.flush()?;
        }
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes written so far (approximate, before the footer).
    pub fn bytes_written(&self) -> usize {
        self.writer.bytes_written() + self.writer.in_progress_size()
    }

    /// Close the file, sync it to disk and move it to its final name. Returns the row count.
    pub fn finish(self) -> Result<u64> {
        let file = self.writer.into_inner()?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.tmp_path, &self.final_path)
            .context(format!("cannot rename {}", self.tmp_path.display()))?;
        Ok(self.rows)
    }
}

/// Read a Parquet file as record batches of up to `batch_size` rows.
pub fn read_parquet(
    path: &Path,
    batch_size: usize,
) -> Result<impl Iterator<Item = Result<RecordBatch>>> {
    let file = File::open(path).map_err(|e| {
        Error::storage(format!("cannot open load file {}", path.display())).with_source(e)
    })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(batch_size)
        .build()?;
    Ok(reader.map(|r| r.map_err(Error::from)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    #[test]
    fn write_rename_read() {
        let dir = std::env::temp_dir().join(format!("sluice-pq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("a"), None, Some("ü")])),
            ],
        )
        .unwrap();
        let path = dir.join("t.parquet");
        let mut w = ParquetFileWriter::create(&path, schema).unwrap();
        w.write(&batch).unwrap();
        assert!(!path.exists(), "final name appears only when finished");
        assert_eq!(w.finish().unwrap(), 3);
        let batches: Vec<_> = read_parquet(&path, 1024)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
        assert_eq!(batches[0], batch);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn row_groups_close_when_the_buffers_grow() {
        let dir = std::env::temp_dir().join(format!("sluice-pq-rg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
        let path = dir.join("wide.parquet");
        let mut w = ParquetFileWriter::create(&path, schema.clone()).unwrap();
        // 40 000 distinct 200-byte strings of noise (8 MB, incompressible): well under
        // ROW_GROUP_SIZE rows, over ROW_GROUP_BYTES of buffers.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut noise = || {
            (0..25)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    format!("{:08x}", x as u32)
                })
                .collect::<String>()
        };
        for _ in 0..4 {
            let values: Vec<String> = (0..10_000).map(|_| noise()).collect();
            let batch =
                RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(values))])
                    .unwrap();
            w.write(&batch).unwrap();
            assert!(w.writer.memory_size() < 2 * ROW_GROUP_BYTES);
        }
        assert_eq!(w.finish().unwrap(), 40_000);
        let file = File::open(&path).unwrap();
        let meta = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .metadata()
            .clone();
        assert!(meta.num_row_groups() > 1, "{}", meta.num_row_groups());
        assert_eq!(meta.file_metadata().num_rows(), 40_000);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
