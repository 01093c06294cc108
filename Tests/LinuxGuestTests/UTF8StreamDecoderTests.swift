import Foundation
import Testing
@testable import GuestKit

/// Console output read in chunks: a character split between two reads arrives whole.
struct UTF8StreamDecoderTests {
    @Test func aCharacterSplitAcrossChunksIsKept() {
        let text = "setup → vcpus started, 🚀 done"
        let bytes = Array(text.utf8)
        // Every split point, including inside the 3-byte arrow and the 4-byte emoji.
        for cut in 0...bytes.count {
            var decoder = UTF8StreamDecoder()
            let joined = decoder.decode(Data(bytes[..<cut])) + decoder.decode(Data(bytes[cut...])) + decoder.finish()
            #expect(joined == text, "split at \(cut)")
        }
    }

    @Test func oneByteAtATime() {
        let text = "ü→🚀x"
        var decoder = UTF8StreamDecoder()
        var out = ""
        for b in text.utf8 { out += decoder.decode(Data([b])) }
        #expect(out + decoder.finish() == text)
    }

    @Test func malformedBytesStillComeThrough() {
        var decoder = UTF8StreamDecoder()
        let out = decoder.decode(Data([0x61, 0xFF, 0x62])) + decoder.decode(Data([0xE2, 0x86])) + decoder.finish()
        #expect(out == "a\u{FFFD}b\u{FFFD}")
    }
}
