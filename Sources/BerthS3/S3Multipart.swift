import AsyncHTTPClient
import Foundation
import NIOCore

/// S3 multipart uploads: create, upload (or server-side copy) parts, complete, abort, list.
extension S3Client {
    struct CompletedPart {
        var number: Int
        var etag: String
    }

    /// Parts must be at least 5 MiB except the last; at most 10,000 of them; a copied range at most 5 GiB.
    static let maximumParts = 10_000
    static let maximumCopySize: Int64 = 5 << 30

    func createMultipartUpload(_ key: String) async throws -> String {
        let text = try await sendForText("POST", key: key, query: [("uploads", "")],
                                         headers: configuration.encryptionHeaders).text
        guard let id = XML.value("UploadId", in: text), !id.isEmpty else {
            throw S3Error(code: "InvalidResponse", message: "no UploadId in CreateMultipartUpload response",
                          resource: "POST \(key)?uploads")
        }
        return id
    }

    func uploadPart(_ key: String, uploadID: String, number: Int, body: ByteBuffer) async throws -> CompletedPart {
        let headers = try await sendForText("PUT", key: key,
                                            query: [("partNumber", String(number)), ("uploadId", uploadID)],
                                            body: body).headers
        guard let etag = headers.first(where: { $0.0.lowercased() == "etag" })?.1 else {
            throw S3Error(code: "InvalidResponse", message: "no ETag for part \(number)", resource: "PUT \(key)")
        }
        return CompletedPart(number: number, etag: etag)
    }

    /// UploadPartCopy: bytes `range` of `source` become part `number` of the upload, without leaving S3.
    func uploadPartCopy(_ key: String, uploadID: String, number: Int, source: String,
                        range: ClosedRange<Int64>) async throws -> CompletedPart {
        let text = try await sendForText(
            "PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)],
            headers: [("x-amz-copy-source", copySource(source)),
                      ("x-amz-copy-source-range", "bytes=\(range.lowerBound)-\(range.upperBound)")]).text
        guard let etag = XML.value("ETag", in: text) else {
            throw S3Error(code: "InvalidResponse", message: "no ETag in UploadPartCopy response", resource: "PUT \(key)")
        }
        return CompletedPart(number: number, etag: etag)
    }

    func completeMultipartUpload(_ key: String, uploadID: String, parts: [CompletedPart]) async throws {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for part in parts {
            xml += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\(XML.escape(part.etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let body = ByteBuffer(string: xml), query = [("uploadId", uploadID)]
        let headers = [("content-type", "application/xml")], hash = payloadHash(body)
        try await retrier.run("POST \(key)?uploadId") { attempt in
            do {
                _ = try await textOnce("POST", key: key, query: query, headers: headers, body: body,
                                       payloadHash: hash, limit: 1 << 20)
            } catch let error as S3Error where error.code == "NoSuchUpload" && attempt > 1 {
                // An earlier attempt completed it and its answer was lost. The object is then there, and holds
                // our bytes: the keys this driver completes are unique to one request (segments) or named by
                // their content (blobs), so nothing else completes under them with other bytes.
                guard try await headObject(key) else { throw error }
            }
        }
    }

    /// Aborts an upload, freeing its parts; an upload already gone is not an error.
    func abortMultipartUpload(_ key: String, uploadID: String) async throws {
        do {
            _ = try await sendForText("DELETE", key: key, query: [("uploadId", uploadID)])
        } catch let error as S3Error where error.code == "NoSuchUpload" {
            return
        }
    }

    struct MultipartListing {
        var uploads: [(key: String, uploadID: String, initiated: Date?)] = []
        var commonPrefixes: [String] = []
    }

    /// ListMultipartUploads under `prefix`, all pages.
    func listMultipartUploads(prefix: String, delimiter: String? = nil) async throws -> MultipartListing {
        var listing = MultipartListing()
        var markers: (key: String, upload: String)?
        repeat {
            var query = [("uploads", ""), ("prefix", prefix)]
            if let delimiter { query.append(("delimiter", delimiter)) }
            if let markers {
                query.append(("key-marker", markers.key))
                query.append(("upload-id-marker", markers.upload))
            }
            let text = try await sendForText("GET", key: nil, query: query).text
            for block in XML.blocks("Upload", in: text) {
                guard let key = XML.value("Key", in: block), let id = XML.value("UploadId", in: block) else { continue }
                listing.uploads.append((key, id, XML.value("Initiated", in: block).flatMap(XML.date)))
            }
            for block in XML.blocks("CommonPrefixes", in: text) {
                if let p = XML.value("Prefix", in: block) { listing.commonPrefixes.append(p) }
            }
            let next = (XML.value("NextKeyMarker", in: text) ?? "", XML.value("NextUploadIdMarker", in: text) ?? "")
            // Stop unless truncated with a marker that moves (a server repeating itself must not loop us).
            if XML.value("IsTruncated", in: text) == "true", !next.0.isEmpty,
               markers.map({ $0.key != next.0 || $0.upload != next.1 }) ?? true {
                markers = next
            } else {
                markers = nil
            }
        } while markers != nil
        return listing
    }
}
