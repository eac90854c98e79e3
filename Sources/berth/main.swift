import ArgumentParser
import NIOCore
import NIOPosix

// Swift tasks run on NIO's event loops, so a request's work does not hop between NIO's threads and Swift's
// cooperative pool. Only possible from the main thread, before any task starts: hence top-level code.
NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()

/// Called from an async function, `main()` resolves to AsyncParsableCommand's entry point; from top-level code
/// it would resolve to ParsableCommand's synchronous one, which prints help instead of running async commands.
func runBerth() async {
    await Berth.main()
}

await runBerth()
