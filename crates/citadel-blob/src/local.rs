//! Local-folder operations that `object_store` does not offer: fsync'd writes with large buffers on a
//! worker thread, advisory locks marking staging files as in use, and no-clobber publication by hard link.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use rustix::fs::{flock, FlockOperation};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// Buffers queued between the producer and the file-writing thread.
const QUEUE_DEPTH: usize = 8;

/// Writes a new file on a blocking worker thread; durable (fsync'd) when finished.
#[derive(Debug)]
pub(crate) struct FileSink {
    path: PathBuf,
    queue: Option<mpsc::Sender<Bytes>>,
    worker: Option<JoinHandle<io::Result<File>>>,
}

impl FileSink {
    /// Creates `path` (which must not exist). With `lock`, holds an exclusive advisory lock on it until
    /// the file returned by [`FileSink::finish`] is dropped, so staging cleanup leaves it alone.
    pub(crate) async fn create(path: PathBuf, lock: bool) -> Result<Self> {
        let open_path = path.clone();
        let mut file = run_blocking(move || {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&open_path)
                .map_err(|e| Error::io(&open_path, e))?;
            if lock {
                flock(&file, FlockOperation::NonBlockingLockExclusive)
                    .map_err(|e| Error::io(&open_path, e.into()))?;
            }
            Ok(file)
        })
        .await?;
        let (queue, mut receiver) = mpsc::channel::<Bytes>(QUEUE_DEPTH);
        let worker = tokio::task::spawn_blocking(move || {
            let flusher = Flusher::start(&file)?;
            let mut unflushed = 0;
            while let Some(data) = receiver.blocking_recv() {
                file.write_all(&data)?;
                unflushed += data.len();
                if unflushed >= FLUSH_EVERY {
                    flusher.request();
                    unflushed = 0;
                }
            }
            flusher.stop()?;
            file.sync_all()?;
            Ok(file)
        });
        Ok(Self {
            path,
            queue: Some(queue),
            worker: Some(worker),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Queues `data` for writing.
    pub(crate) async fn write(&mut self, data: Bytes) -> Result<()> {
        let sent = match &self.queue {
            Some(queue) => queue.send(data).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            // The worker stopped: it failed, and its error says why.
            self.join().await.map(drop)
        }
    }

    /// Writes everything queued, fsyncs, and returns the (still locked) file.
    pub(crate) async fn finish(mut self) -> Result<File> {
        self.join().await
    }

    /// Stops writing and removes the file.
    pub(crate) async fn abort(mut self) {
        // The write error, if any, was already reported; removing the file is what matters now.
        let _ = self.join().await;
        let path = self.path.clone();
        let _ = run_blocking(move || fs::remove_file(&path).map_err(|e| Error::io(&path, e))).await;
    }

    async fn join(&mut self) -> Result<File> {
        self.queue = None;
        let worker = self
            .worker
            .take()
            .ok_or_else(|| Error::Worker("file writer already finished".into()))?;
        match worker.await {
            Ok(Ok(file)) => Ok(file),
            Ok(Err(e)) => Err(Error::io(&self.path, e)),
            Err(e) => Err(Error::Worker(e.to_string())),
        }
    }
}

/// Bytes written between background flushes of a file sink.
const FLUSH_EVERY: usize = 64 * 1024 * 1024;

/// Flushes a file to disk on its own thread while writing goes on, so the final fsync finds little
/// left to do and disk writeback overlaps with encryption and hashing.
struct Flusher {
    requests: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<io::Result<()>>,
}

impl Flusher {
    fn start(file: &File) -> io::Result<Self> {
        let file = file.try_clone()?;
        let (requests, received) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("citadel-blob-flush".into())
            .spawn(move || {
                while received.recv().is_ok() {
                    file.sync_data()?;
                }
                Ok(())
            })?;
        Ok(Self { requests, thread })
    }

    /// Asks for a flush; coalesces with one already pending.
    fn request(&self) {
        let _ = self.requests.try_send(());
    }

    /// Waits for the flushes under way; reports the first flush error.
    fn stop(self) -> io::Result<()> {
        drop(self.requests);
        self.thread
            .join()
            .map_err(|_| io::Error::other("the flush thread panicked"))?
    }
}

/// Runs blocking file-system work off the async threads.
pub(crate) async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Worker(e.to_string()))?
}

/// Fsyncs a directory so that entries created or renamed in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Fsyncs every directory from `path`'s parent up to and including `root`.
fn sync_parents(path: &Path, root: &Path) -> Result<()> {
    for dir in path.ancestors().skip(1) {
        sync_dir(dir)?;
        if dir == root {
            break;
        }
    }
    Ok(())
}

/// Publishes `staged` at `dest` unless something is already there; returns whether it published.
/// The new entry is durable when this returns `true`. The staged file is left in place.
pub(crate) fn publish_no_clobber(staged: &Path, dest: &Path, root: &Path) -> Result<bool> {
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    match fs::hard_link(staged, dest) {
        Ok(()) => {
            sync_parents(dest, root)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io(dest, e)),
    }
}

/// Replaces `dest` atomically and durably with `data`, staging the new content in `staging_dir`.
pub(crate) fn write_durable(
    dest: &Path,
    data: &[u8],
    staging_dir: &Path,
    root: &Path,
) -> Result<()> {
    let temp = staging_dir.join(uuid::Uuid::new_v4().simple().to_string());
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut file| {
            flock(&file, FlockOperation::NonBlockingLockExclusive)?;
            file.write_all(data)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temp, dest));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(Error::io(dest, e));
    }
    sync_parents(dest, root)
}

/// Removes every file in `staging_dir` that no live writer holds locked; returns how many it removed.
pub(crate) fn cleanup_staging_dir(staging_dir: &Path) -> Result<usize> {
    let entries = fs::read_dir(staging_dir).map_err(|e| Error::io(staging_dir, e))?;
    let mut removed = 0;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(staging_dir, e))?.path();
        let Ok(file) = File::open(&path) else {
            continue; // Removed meanwhile by its writer or another cleaner.
        };
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            continue; // A live writer holds it.
        }
        match fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    if removed > 0 {
        sync_dir(staging_dir)?;
    }
    Ok(removed)
}
