use clap::Parser;
use portal::cli::{self, Cli, Command};
use portal::logging::{self, BufferedStderr};

// The server allocates on one thread and frees on another all the time (rows read on the
// database driver's thread, answers written on the runtime's), where the C library's allocator
// spent an eighth of a request's instructions. Built without transparent huge pages, which
// added 14 MB of idle RSS for no measurable speed (bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How often freed memory is handed back to the system when nothing else asks for it.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// mimalloc returns freed pages to the system only from inside a later allocation, once its purge
/// delay has passed, so a server that falls quiet after its start-up (or after a burst) keeps
/// several megabytes resident that it no longer uses. A small thread asks for the pending purges
/// every few seconds; the arenas are process-wide, so one thread's collection reaches them all.
fn purge_freed_memory_in_the_background() {
    let started = std::thread::Builder::new().name("purge".into()).spawn(|| loop {
        std::thread::sleep(PURGE_EVERY);
        // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any time.
        unsafe { libmimalloc_sys::mi_collect(false) };
    });
    if let Err(e) = started {
        eprintln!("warning: freed memory is kept until the next allocation: {e}");
    }
}

fn init_logging(json: bool) -> BufferedStderr {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let writer = BufferedStderr::start();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(logging::UtcClock)
        .with_writer(writer.clone());
    if json {
        builder.json().flatten_event(true).init();
    } else if logging::stderr_is_terminal() {
        builder.with_ansi(true).init();
    } else {
        builder.with_ansi(false).event_format(logging::PlainLine).init();
    }
    writer
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match cli.load_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Before the runtime's threads exist, as SQLite requires.
    let sqlite_memory = portal::store::sqlite_memory::use_the_process_allocator();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    let result = runtime.block_on(async move {
        match command {
            Command::Serve => {
                purge_freed_memory_in_the_background();
                let log = init_logging(config.log_format == "json");
                if let Err(code) = sqlite_memory {
                    tracing::warn!(code, "SQLite keeps its own allocator: it refused the process's");
                }
                let served = portal::server::serve(config).await.map(|_| None);
                log.flush();
                served
            }
            other => cli::run(config, other).await.map(Some),
        }
    });
    match result {
        Ok(Some(output)) => {
            println!("{}", serde_json::to_string_pretty(&output).unwrap_or_default());
            std::process::ExitCode::SUCCESS
        }
        Ok(None) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
