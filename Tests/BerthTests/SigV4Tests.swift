@testable import BerthS3
import Crypto
import Foundation
import Testing

/// SigV4 against published vectors only:
/// - the S3 API reference, "Signature Calculations for the Authorization Header" (GET Object, PUT Object,
///   GET Bucket Lifecycle, GET Bucket list objects) and "Authenticating Requests: Using Query Parameters"
///   (the presigned URL), credentials AKIAIOSFODNN7EXAMPLE, 2013-05-24, examplebucket;
/// - the AWS SigV4 test suite as kept in awslabs/aws-c-auth, tests/aws-signing-test-suite/v4/<name>/
///   (context.json, header-canonical-request.txt, header-signature.txt, query-signature.txt).
@Suite struct SigV4Tests {
    static let s3Example = SigV4Signer(accessKey: "AKIAIOSFODNN7EXAMPLE",
                                       secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
    static let may24 = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z
    static let exampleHost = "examplebucket.s3.amazonaws.com"

    static func signature(_ authorization: String) -> String {
        String(authorization[authorization.range(of: "Signature=")!.upperBound...])
    }

    static func signedHeaders(_ authorization: String) -> String {
        let start = authorization.range(of: "SignedHeaders=")!.upperBound
        return String(authorization[start...].prefix { $0 != "," })
    }

    /// Signs as the driver does (`sign` adds x-amz-date and x-amz-content-sha256) and returns Authorization.
    static func s3Authorization(_ method: String, _ path: String, query: [(String, String)] = [],
                                headers: [(String, String)] = [], payloadHash: String = SigV4Signer.emptyPayloadSHA256) -> String {
        var all = [("host", exampleHost)] + headers
        s3Example.sign(method: method, path: path, query: query, headers: &all, payloadHash: payloadHash, date: may24)
        return all.first { $0.0 == "Authorization" }!.1
    }

    @Test func dates() {
        #expect(SigV4Signer.timestamp(Self.may24) == "20130524T000000Z")
        #expect(SigV4Signer.dateStamp(Self.may24) == "20130524")
        #expect(SigV4Signer.timestamp(Date(timeIntervalSince1970: 1_440_938_160)) == "20150830T123600Z")
        #expect(SigV4Signer.timestamp(Date(timeIntervalSince1970: 951_825_599)) == "20000229T115959Z")
    }

    @Test func uriEncodingFollowsAWSRules() {
        #expect(SigV4Signer.uriEncode("test$file.text", encodeSlash: false) == "test%24file.text")
        #expect(SigV4Signer.uriEncode("a/b c", encodeSlash: false) == "a/b%20c")
        #expect(SigV4Signer.uriEncode("a/b+c=") == "a%2Fb%2Bc%3D")
        #expect(SigV4Signer.uriEncode("-._~AZaz09") == "-._~AZaz09")
        #expect(SigV4Signer.uriEncode("ሴ") == "%E1%88%B4")
        // Encoded once: a literal '%' is data.
        #expect(SigV4Signer.uriEncode("100%", encodeSlash: false) == "100%25")
    }

    // MARK: S3 API reference examples

    @Test func s3GetObjectWithRange() {
        let canonical = SigV4Signer.canonicalRequest(
            method: "GET", path: "/test.txt", query: [],
            headers: [("host", Self.exampleHost), ("range", "bytes=0-9"),
                      ("x-amz-content-sha256", SigV4Signer.emptyPayloadSHA256), ("x-amz-date", "20130524T000000Z")],
            payloadHash: SigV4Signer.emptyPayloadSHA256)
        #expect(canonical == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(Self.s3Example.stringToSign(canonicalRequest: canonical, date: Self.may24) == """
            AWS4-HMAC-SHA256
            20130524T000000Z
            20130524/us-east-1/s3/aws4_request
            7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972
            """)
        let authorization = Self.s3Authorization("GET", "/test.txt", headers: [("Range", "bytes=0-9")])
        #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "))
        #expect(Self.signedHeaders(authorization) == "host;range;x-amz-content-sha256;x-amz-date")
        #expect(Self.signature(authorization) == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func s3PutObject() {
        let payload = SigV4Signer.sha256Hex(Data("Welcome to Amazon S3.".utf8))
        #expect(payload == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let path = "/" + SigV4Signer.uriEncode("test$file.text", encodeSlash: false)
        let headers = [("host", Self.exampleHost), ("date", "Fri, 24 May 2013 00:00:00 GMT"),
                       ("x-amz-content-sha256", payload), ("x-amz-date", "20130524T000000Z"),
                       ("x-amz-storage-class", "REDUCED_REDUNDANCY")]
        let canonical = SigV4Signer.canonicalRequest(method: "PUT", path: path, query: [], headers: headers,
                                                     payloadHash: payload)
        #expect(canonical.hasPrefix("PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"))
        #expect(Self.s3Example.stringToSign(canonicalRequest: canonical, date: Self.may24).hasSuffix(
            "\n9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"))
        let authorization = Self.s3Authorization(
            "PUT", path, headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            payloadHash: payload)
        #expect(Self.signedHeaders(authorization) == "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class")
        #expect(Self.signature(authorization) == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func s3GetBucketLifecycle() {
        let headers = [("host", Self.exampleHost), ("x-amz-content-sha256", SigV4Signer.emptyPayloadSHA256),
                       ("x-amz-date", "20130524T000000Z")]
        let canonical = SigV4Signer.canonicalRequest(method: "GET", path: "/", query: [("lifecycle", "")],
                                                     headers: headers, payloadHash: SigV4Signer.emptyPayloadSHA256)
        #expect(canonical.hasPrefix("GET\n/\nlifecycle=\n"))
        #expect(SigV4Signer.sha256Hex(Data(canonical.utf8)) == "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca")
        #expect(Self.signature(Self.s3Authorization("GET", "/", query: [("lifecycle", "")]))
            == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func s3ListObjects() {
        // Given out of order: the canonical query sorts.
        let query = [("prefix", "J"), ("max-keys", "2")]
        #expect(SigV4Signer.canonicalQuery(query) == "max-keys=2&prefix=J")
        let headers = [("host", Self.exampleHost), ("x-amz-content-sha256", SigV4Signer.emptyPayloadSHA256),
                       ("x-amz-date", "20130524T000000Z")]
        let canonical = SigV4Signer.canonicalRequest(method: "GET", path: "/", query: query, headers: headers,
                                                     payloadHash: SigV4Signer.emptyPayloadSHA256)
        #expect(SigV4Signer.sha256Hex(Data(canonical.utf8)) == "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7")
        #expect(Self.signature(Self.s3Authorization("GET", "/", query: query))
            == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func s3PresignedURL() {
        let query = Self.s3Example.presignedQuery(method: "GET", host: Self.exampleHost, path: "/test.txt",
                                                  expires: 86400, date: Self.may24)
        #expect("https://examplebucket.s3.amazonaws.com/test.txt?" + query
            == "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    }

    // MARK: AWS SigV4 test suite (service "service", 2015-08-30T12:36:00Z)

    static let suite = SigV4Signer(accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                   region: "us-east-1", service: "service")
    static let aug30 = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z

    /// The suite signs only host and x-amz-date (plus what the case adds); the body hash is not a header.
    static func suiteSignature(_ method: String = "GET", _ path: String = "/", query: [(String, String)] = [],
                               headers: [(String, String)] = [], payloadHash: String = SigV4Signer.emptyPayloadSHA256,
                               signer: SigV4Signer = suite) -> String {
        let all = [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")] + headers
        return signature(signer.authorization(method: method, path: path, query: query, headers: all,
                                              payloadHash: payloadHash, date: aug30))
    }

    @Test func suiteGetVanilla() {
        let canonical = SigV4Signer.canonicalRequest(
            method: "GET", path: "/", query: [],
            headers: [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")],
            payloadHash: SigV4Signer.emptyPayloadSHA256)
        #expect(Self.suite.stringToSign(canonicalRequest: canonical, date: Self.aug30) == """
            AWS4-HMAC-SHA256
            20150830T123600Z
            20150830/us-east-1/service/aws4_request
            bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63
            """)
        #expect(Self.suiteSignature() == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test func suiteQueries() {
        #expect(Self.suiteSignature(query: [("Param2", "value2"), ("Param1", "value1")])
            == "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")  // get-vanilla-query-order-key-case
        let unreserved = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        #expect(Self.suiteSignature(query: [(unreserved, unreserved)])
            == "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197")  // get-vanilla-query-unreserved
        #expect(Self.suiteSignature(query: [("ሴ", "bar")])
            == "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04")  // get-vanilla-utf8-query
    }

    @Test func suitePathAndHeaders() {
        #expect(Self.suiteSignature("GET", "/" + SigV4Signer.uriEncode("ሴ", encodeSlash: false))
            == "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85")  // get-utf8
        #expect(Self.suiteSignature(headers: [("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")])
            == "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736")  // get-header-value-trim
        #expect(Self.suiteSignature(headers: [("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")])
            == "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea")  // get-header-key-duplicate
    }

    @Test func suiteSessionTokenAndSignedBody() {
        var withToken = Self.suite
        withToken.sessionToken = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
        #expect(Self.suiteSignature(headers: [("X-Amz-Security-Token", withToken.sessionToken!)], signer: withToken)
            == "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8")  // get-vanilla-with-session-token
        let body = SigV4Signer.sha256Hex(Data("Param1=value1".utf8))
        #expect(body == "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e")
        #expect(Self.suiteSignature("POST", headers: [("Content-Type", "application/x-www-form-urlencoded"),
                                                     ("Content-Length", "13"), ("x-amz-content-sha256", body)],
                                    payloadHash: body)
            == "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b")  // post-x-www-form-urlencoded
    }

    @Test func suitePresignedGetVanilla() {
        let query = Self.suite.presignedQuery(method: "GET", host: "example.amazonaws.com", path: "/", expires: 3600,
                                              date: Self.aug30, payloadHash: SigV4Signer.emptyPayloadSHA256)
        #expect(query == "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d")
    }

    // MARK: Driver helpers

    @Test func xmlValuesAndDates() {
        let xml = "<ListBucketResult><Contents><Key>a&amp;b</Key><LastModified>2026-12-01T05:34:23.500Z</LastModified><Size>3</Size></Contents><Contents><Key>c</Key></Contents><Prefix/></ListBucketResult>"
        #expect(XML.blocks("Contents", in: xml).count == 2)
        #expect(XML.value("Key", in: xml) == "a&b")
        #expect(XML.value("Prefix", in: xml) == "")
        #expect(XML.value("Missing", in: xml) == nil)
        #expect(XML.date("2026-12-01T05:34:23.500Z")?.timeIntervalSince1970 == 1_796_103_263.5)
        #expect(XML.date("2013-05-24T00:00:00Z") == Self.may24)
    }

    @Test func segmentNamesSortByOffset() {
        let a = S3BlobStore.segmentName(start: 5), b = S3BlobStore.segmentName(start: 10_000_000_000)
        #expect(a.count == 29 && b.count == 29)
        #expect(a.hasPrefix("00000000000000000005-"))
        #expect(a < b)
    }
}
