import Foundation
import Logging
import NIOSSL
import Synchronization

/// The server's certificate and key, read from PEM files and swapped on reload: each new connection takes the
/// latest pair (NIOSSL's per-connection context callback), so SIGHUP renews a certificate without a restart.
final class TLSCertificates: Sendable {
    let certificatePath: String
    let keyPath: String
    private let current: Mutex<NIOSSLContextConfigurationOverride>

    init(certificate: String, key: String) throws {
        certificatePath = certificate
        keyPath = key
        current = Mutex(try Self.load(certificate, key))
    }

    private static func load(_ certificate: String, _ key: String) throws -> NIOSSLContextConfigurationOverride {
        var pair = NIOSSLContextConfigurationOverride()
        pair.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
        pair.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        // Fail now rather than at the first handshake when the two do not belong together.
        _ = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: pair.certificateChain!,
                                                                     privateKey: pair.privateKey!))
        return pair
    }

    /// The configuration to listen with: today's files, and a callback that hands out the reloaded pair.
    func serverConfiguration() throws -> TLSConfiguration {
        let pair = current.withLock { $0 }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: pair.certificateChain!,
                                                                     privateKey: pair.privateKey!)
        configuration.minimumTLSVersion = .tlsv12
        configuration.sslContextCallback = { [self] _, promise in promise.succeed(current.withLock { $0 }) }
        return configuration
    }

    /// Reads the files again; on error the current pair stays.
    func reload(logger: Logger) {
        do {
            let fresh = try Self.load(certificatePath, keyPath)
            current.withLock { $0 = fresh }
            logger.info("TLS certificate reloaded from \(certificatePath)")
        } catch {
            logger.error("TLS reload failed, keeping the current certificate: \(error)")
        }
    }
}
