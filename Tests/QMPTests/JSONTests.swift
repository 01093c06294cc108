import Testing
@testable import QMP

struct JSONTests {
    @Test func parsesAndPrintsQMPMessages() throws {
        let v = try JSONParser.parse(#"{"execute": "block_resize", "arguments": {"node-name": "d0", "size": 1073741824}, "id": [1, "a", null, true, 2.5]}"#)
        #expect(v["execute"]?.stringValue == "block_resize")
        #expect(v["arguments"]?["size"]?.integerValue == 1_073_741_824)
        #expect(v.description == #"{"execute": "block_resize", "arguments": {"node-name": "d0", "size": 1073741824}, "id": [1, "a", null, true, 2.5]}"#)
    }

    @Test func stringEscapesRoundTrip() throws {
        let v = try JSONParser.parse(#"["a\"b\\c\n\u0001\u00e9\ud83d\ude00/"]"#)
        #expect(v == .array([.string("a\"b\\c\n\u{01}é😀/")]))
        #expect(v.description == #"["a\"b\\c\n\u0001é😀/"]"#)
    }

    @Test(arguments: [
        "", "{", #"{"a" 1}"#, "[1,]", #"{"a": 1,}"#, "tru", #""\x""#, #""\ud800""#, "01x", "1 2", "\"\u{01}\"", "-",
    ])
    func malformedInputIsRefused(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func deepNestingIsRefusedNotRecursed() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let fine = String(repeating: "[", count: JSONParser.maximumDepth - 1) + String(repeating: "]", count: JSONParser.maximumDepth - 1)
        #expect((try? JSONParser.parse(fine)) != nil)
    }

    @Test func splitterCutsAStreamAtObjectEnds() {
        var s = QMPMessageSplitter()
        var got = s.feed(Array(#"{"execute": "a"}{"exe"#.utf8))
        #expect(got == [.message(Array(#"{"execute": "a"}"#.utf8))])
        got = s.feed(Array(#"cute": "}{"} "#.utf8) + [0x0A])
        #expect(got == [.message(Array(#"{"execute": "}{"}"#.utf8))])
        got = s.feed(Array("\r\n  [1, [2]]".utf8))
        #expect(got == [.message(Array("[1, [2]]".utf8))])
    }

    @Test func splitterSkipsAnOverlongMessageAndRecovers() {
        var s = QMPMessageSplitter()
        let huge = "{\"a\": \"" + String(repeating: "x", count: QMPMessageSplitter.maximumMessageBytes) + "\"}"
        let got = s.feed(Array(huge.utf8) + Array(#"{"execute": "b"}"#.utf8))
        #expect(got == [.tooLong, .message(Array(#"{"execute": "b"}"#.utf8))])
    }
}
