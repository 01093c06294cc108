import Testing
import QMP

/// `swiftdm qmp`'s command words.
struct QMPCommandListTests {
    @Test func commandsTakeTheJSONWordAfterThem() throws {
        let list = try QMPCommandList(words: ["stop", "migrate", #"{"uri": "file:/tmp/snap"}"#, "query-migrate"])
        #expect(list.entries == [.init(name: "stop"), .init(name: "migrate", arguments: ["uri": "file:/tmp/snap"]), .init(name: "query-migrate")])
    }

    @Test func misplacedOrBrokenArgumentsAreRefused() {
        #expect(throws: QMPCommandList.Failure.empty) { try QMPCommandList(words: []) }
        #expect(throws: QMPCommandList.Failure.argumentsWithoutCommand("{}")) { try QMPCommandList(words: ["{}"]) }
        #expect(throws: QMPCommandList.Failure.argumentsWithoutCommand("{}")) { try QMPCommandList(words: ["stop", "{}", "{}"]) }
        #expect { try QMPCommandList(words: ["migrate", "{uri"]) } throws: { "\($0)".contains("arguments '{uri' are not a JSON object") }
    }
}
