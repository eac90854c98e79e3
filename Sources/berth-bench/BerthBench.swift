import ArgumentParser
import Foundation

/// Drives one registry, or two side by side (A B A B …), and reports JSON lines and a table of medians.
@main
struct BerthBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth-bench",
        abstract: "Benchmark OCI registries on loopback: pushes, pulls, listings and a mixed load.")

    @Argument(help: "Registry URL(s): one to measure, two to compare (A B).")
    var urls: [String]

    @Option(help: "PIDs of the registries (same order as the URLs), to report idle and peak RSS.")
    var pid: [Int32] = []

    @Option(help: "Rounds per registry; compare mode alternates A B A B.") var rounds = 3
    @Option(help: "Concurrent clients.") var concurrency = 8
    @Option(help: "push-mono and pull-blob: number of blobs.") var blobs = 64
    @Option(name: .customLong("blob-mib"), help: "Blob size in MiB.") var blobMiB = 16
    @Option(help: "push-chunked: number of blobs.") var chunkedBlobs = 32
    @Option(name: .customLong("chunk-mib"), help: "push-chunked: chunk size in MiB.") var chunkMiB = 4
    @Option(help: "push-manifest: number of manifests.") var manifests = 2000
    @Option(help: "Seconds for each timed figure (pull-manifest, head-blob, mixed).") var duration = 10.0
    @Option(help: "tags-list: tags in the listed repository.") var tags = 1000
    @Option(help: "catalog: repositories created.") var repositories = 200
    @Option(help: "tags-list and catalog: full listings timed.") var listings = 10
    @Option(help: "gc: blobs the registry holds while one collection runs (pushed once, kept across runs).")
    var gcBlobs = 20_000
    @Option(help: "gc: also write this many blobs' bytes, without metadata, straight into --gc-root (a Berth filesystem root).")
    var gcStray = 0
    @Option(help: "gc: the registry's filesystem root, for --gc-stray.") var gcRoot: String?
    @Option(help: "Comma-separated figures to run (default all but the growth figures tags-page and catalog-page, and Berth's gc).") var only: String?
    @Option(help: "Also append JSON lines to this file.") var json: String?
    @Option(help: "User name to log in with when a registry challenges (Basic, or Bearer tokens from its realm); for A, and for B unless --username-b is given.")
    var username: String?
    @Option(help: "Password (or access token) for --username.") var password: String?
    @Option(name: .customLong("username-b"), help: "User name for the second registry (B); an empty one: log in to B as nobody.") var usernameB: String?
    @Option(name: .customLong("password-b"), help: "Password (or access token) for --username-b.") var passwordB: String?

    mutating func validate() throws {
        guard (1...2).contains(urls.count) else { throw ValidationError("give one or two registry URLs") }
        for url in urls {
            guard let host = URL(string: url)?.host, ["127.0.0.1", "localhost", "::1"].contains(host) else {
                throw ValidationError("benchmarks run against loopback registries only: \(url)")
            }
        }
        guard (username ?? "").isEmpty == (password == nil), (usernameB ?? "").isEmpty == (passwordB == nil) else {
            throw ValidationError("give --username with --password, and --username-b with --password-b")
        }
        guard usernameB == nil || urls.count == 2 else { throw ValidationError("--username-b needs a second registry") }
        let known = Workloads.allFigures.union(Workloads.growthFigures).union(Workloads.berthFigures)
        if let unknown = only?.split(separator: ",").map(String.init).first(where: { !known.contains($0) }) {
            throw ValidationError("unknown figure \(unknown); known: \(known.sorted().joined(separator: ", "))")
        }
        guard gcBlobs >= 1, gcBlobs <= 10_000_000, gcStray >= 0, gcStray <= 10_000_000 else {
            throw ValidationError("gc-blobs must be 1…10,000,000 and gc-stray 0…10,000,000")
        }
        guard gcStray == 0 || (gcRoot != nil && urls.count == 1) else {
            throw ValidationError("--gc-stray needs --gc-root, and one registry")
        }
        guard rounds >= 1, rounds <= 20, concurrency >= 1, concurrency <= 256 else {
            throw ValidationError("rounds must be 1…20 and concurrency 1…256")
        }
    }

    func run() async throws {
        var options = BenchOptions()
        options.concurrency = concurrency
        options.blobs = blobs
        options.blobSize = blobMiB << 20
        options.chunkedBlobs = chunkedBlobs
        options.chunkSize = chunkMiB << 20
        options.manifests = manifests
        options.duration = duration
        options.tags = tags
        options.repositories = repositories
        options.listings = listings
        options.gcBlobs = gcBlobs
        options.gcStray = gcStray
        if let only { options.figures = Set(only.split(separator: ",").map(String.init)) }

        let labels = urls.count == 2 ? ["A", "B"] : ["A"]
        let clients = urls.enumerated().map { i, url in
            BenchClient(base: url, concurrency: options.concurrency, credentials: credentials(i))
        }
        let report = Report(labels: labels, urls: urls, jsonPath: json)
        let memory = MemoryWatch(pids: pid)
        memory.recordIdle()
        let sampler = Task { await memory.sample() }
        defer { sampler.cancel() }

        let runSeed = UInt64(Date().timeIntervalSince1970 * 1000)
        for (i, client) in clients.enumerated() where !options.figures.isDisjoint(with: ["tags-list", "catalog", "tags-page", "catalog-page"]) {
            print("preparing listings on \(labels[i]) (\(options.tags) tags, \(options.repositories) repositories)…")
            try await Workloads(client: client, options: options, seed: runSeed).prepareListings()
        }
        for (i, client) in clients.enumerated() where options.figures.contains("gc") {
            print("preparing gc on \(labels[i]) (\(options.gcBlobs) blobs)…")
            let workloads = Workloads(client: client, options: options, seed: runSeed)
            try await workloads.prepareCollection()
            if let gcRoot { try workloads.prepareStrayBlobs(root: gcRoot) }
        }
        for round in 1...rounds {
            for (i, client) in clients.enumerated() {
                let workloads = Workloads(client: client, options: options, seed: runSeed &+ UInt64(round * 10 + i),
                                          pid: i < pid.count ? pid[i] : nil)
                print("round \(round), \(labels[i]) \(urls[i])")
                for figure in try await workloads.runAll() {
                    report.add(label: labels[i], round: round, figure)
                }
            }
        }
        sampler.cancel()
        report.printTable(memory: memory.summary(labels: labels))
        for (label, client) in zip(labels, clients) {
            let (challenges, fetches) = client.auth.counts
            if challenges > 0 { print("auth \(label): \(challenges) challenges answered, \(fetches) tokens fetched") }
        }
        for client in clients { try await client.shutdown() }
    }

    /// The credentials for registry `i` (0: A, 1: B); an empty user name means none.
    func credentials(_ i: Int) -> Credentials? {
        let pair = i == 1 && usernameB != nil ? (usernameB, passwordB) : (username, password)
        guard let user = pair.0, !user.isEmpty, let password = pair.1 else { return nil }
        return Credentials(username: user, password: password)
    }
}

extension Workloads {
    /// Every selected figure, in an order where each one's data comes from an earlier one.
    func runAll() async throws -> [Figure] {
        var figures: [Figure] = []
        let want = options.figures
        var pushed: [Blob] = []
        if want.contains("push-mono") || want.contains("pull-blob") || want.contains("head-blob") {
            let (figure, blobs) = await pushMono()
            pushed = blobs
            if want.contains("push-mono") { figures.append(figure) }
        }
        if want.contains("push-chunked") { figures.append(await pushChunked()) }
        if want.contains("pull-blob") { figures.append(await pullBlobs(pushed)) }
        if want.contains("head-blob") { figures.append(await headBlobs(pushed)) }
        if !want.isDisjoint(with: ["push-manifest", "pull-manifest", "mixed"]) {
            let (figure, digests) = try await pushManifests()
            if want.contains("push-manifest") { figures.append(figure) }
            if want.contains("pull-manifest") { figures.append(await pullManifests(digests)) }
            if want.contains("mixed") { figures.append(try await mixed(digests)) }
        }
        if want.contains("tags-list") { figures.append(await tagsList()) }
        if want.contains("catalog") { figures.append(await catalog()) }
        if want.contains("tags-page") { figures.append(await tagsPage()) }
        if want.contains("catalog-page") { figures.append(await catalogPage()) }
        if want.contains("gc") { figures.append(await collection()) }
        for figure in figures {
            let values = figure.values.map { "\($0.0) \(String(format: "%.1f", $0.1))" }.joined(separator: ", ")
            print("  \(figure.name): \(values)")
        }
        return figures
    }
}
