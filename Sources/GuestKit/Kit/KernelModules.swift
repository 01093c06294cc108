import Foundation

/// Kernel modules found in an extracted module tree, and the load order for a set of them.
///
/// Dependencies come from each module's own `.modinfo` section (`depends=a,b`), the same
/// string `modinfo -F depends` prints, so no `depmod` run or `modules.dep` is needed.
/// Compressed modules (`.ko.xz`, `.ko.zst`) are decompressed on the way into the initrd,
/// since busybox `insmod` loads plain ELF objects.
struct KernelModules {
    /// Module name (with `-` and `_` unified to `_`) → file.
    let files: [String: String]
    /// Modules compiled into the kernel (`modules.builtin`), same naming.
    let builtin: Set<String>
    let tree: String

    init(tree: String) {
        self.tree = tree
        var files: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: tree)
        while let relative = enumerator?.nextObject() as? String {
            guard let name = Self.moduleName(ofFile: relative) else { continue }
            files[name] = tree + "/" + relative
        }
        self.files = files
        let builtinList = (try? String(contentsOfFile: tree + "/modules.builtin", encoding: .utf8)) ?? ""
        builtin = Set(builtinList.split(separator: "\n").compactMap { Self.moduleName(ofFile: String($0)) })
    }

    static func canonical(_ name: String) -> String { name.replacingOccurrences(of: "-", with: "_") }

    static func moduleName(ofFile path: String) -> String? {
        let base = (path as NSString).lastPathComponent
        for suffix in [".ko", ".ko.xz", ".ko.zst", ".ko.gz"] where base.hasSuffix(suffix) {
            return canonical(String(base.dropLast(suffix.count)))
        }
        return nil
    }

    /// `wanted` and everything they depend on, dependencies first; built-in ones dropped.
    func loadOrder(for wanted: [String]) throws -> [String] {
        var order: [String] = []
        var done: Set<String> = []
        func visit(_ raw: String, path: [String]) throws {
            let name = Self.canonical(raw)
            if done.contains(name) || builtin.contains(name) { return }
            guard !path.contains(name) else { throw GuestKitError.moduleDependencyCycle(path + [name]) }
            guard let file = files[name] else { throw GuestKitError.moduleNotFound(module: name, tree: tree) }
            for dep in try dependencies(of: file) { try visit(dep, path: path + [name]) }
            done.insert(name)
            order.append(name)
        }
        for w in wanted { try visit(w, path: []) }
        return order
    }

    /// The plain ELF object for module `name`.
    func objectData(_ name: String) throws -> Data {
        guard let file = files[Self.canonical(name)] else { throw GuestKitError.moduleNotFound(module: name, tree: tree) }
        if file.hasSuffix(".xz") { return try HostCommand.runData(["xz", "-dc", file]) }
        if file.hasSuffix(".zst") { return try HostCommand.runData(["zstd", "-dc", file]) }
        if file.hasSuffix(".gz") { return try HostCommand.runData(["gzip", "-dc", file]) }
        return try Data(contentsOf: URL(fileURLWithPath: file))
    }

    private func dependencies(of file: String) throws -> [String] {
        let name = Self.moduleName(ofFile: file) ?? file
        let data = try objectData(name)
        // `.modinfo` holds NUL-separated key=value strings; `depends=` is always present.
        let key = Data("\0depends=".utf8)
        guard let r = data.range(of: key) else { return [] }
        let end = data[r.upperBound...].firstIndex(of: 0) ?? data.endIndex
        let value = String(decoding: data[r.upperBound..<end], as: UTF8.self)
        return value.split(separator: ",").map(String.init).filter { !$0.isEmpty }
    }
}
