//===- SafeTensors.cpp - safetensors checkpoints --------------------------===//

#include "runtime/SafeTensors.h"
#include "runtime/AtomicFile.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <numeric>
#include <set>
#include <unistd.h>

namespace moa::runtime {

namespace {
// The reference implementation's limit; a larger header is a corrupt file,
// not a checkpoint, and must not make us allocate gigabytes.
constexpr uint64_t kMaxHeaderSize = 100'000'000;
constexpr char kMetadataKey[] = "__metadata__";

const char *safetensorsDType(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "F32";
  case DType::F16:
    return "F16";
  case DType::BF16:
    return "BF16";
  case DType::I32:
    return "I32";
  case DType::I1:
    return "BOOL";
  }
  return "";
}

std::optional<DType> parseSafetensorsDType(const std::string &name) {
  for (DType dtype :
       {DType::F32, DType::F16, DType::BF16, DType::I32, DType::I1})
    if (name == safetensorsDType(dtype))
      return dtype;
  return std::nullopt;
}

/// "[2, -1, 4]": unlike formatShape, shows negative sizes as they are.
std::string formatInts(const std::vector<int64_t> &values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i)
    text += (i ? ", " : "") + std::to_string(values[i]);
  return text + "]";
}

/// JSON text must be UTF-8; other readers (Python's json, serde) reject it
/// otherwise, so neither end lets invalid sequences through.
bool isValidUtf8(const std::string &text) {
  static const uint32_t kMinimum[] = {0, 0x80, 0x800, 0x10000};
  for (size_t i = 0; i < text.size();) {
    const unsigned char lead = text[i];
    const int extra = lead < 0x80           ? 0
                      : (lead >> 5) == 0x6  ? 1
                      : (lead >> 4) == 0xE  ? 2
                      : (lead >> 3) == 0x1E ? 3
                                            : -1;
    if (extra < 0 || text.size() - i <= size_t(extra))
      return false;
    uint32_t code = extra == 0 ? lead : lead & (0x3F >> extra);
    for (int k = 1; k <= extra; ++k) {
      const unsigned char next = text[i + k];
      if ((next & 0xC0) != 0x80)
        return false;
      code = code << 6 | (next & 0x3F);
    }
    // Overlong encodings, surrogates and code points past U+10FFFF.
    if (code < kMinimum[extra] || code > 0x10FFFF ||
        (code >= 0xD800 && code <= 0xDFFF))
      return false;
    i += extra + 1;
  }
  return true;
}

void appendUtf8(std::string &out, uint32_t code) {
  if (code < 0x80) {
    out += char(code);
  } else if (code < 0x800) {
    out += char(0xC0 | code >> 6);
    out += char(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += char(0xE0 | code >> 12);
    out += char(0x80 | (code >> 6 & 0x3F));
    out += char(0x80 | (code & 0x3F));
  } else {
    out += char(0xF0 | code >> 18);
    out += char(0x80 | (code >> 12 & 0x3F));
    out += char(0x80 | (code >> 6 & 0x3F));
    out += char(0x80 | (code & 0x3F));
  }
}

std::string quoteJson(const std::string &text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

//===----------------------------------------------------------------------===//
// A strict parser for the JSON subset of the header: objects, arrays,
// strings and integers (no fractions, exponents, true, false or null).
//===----------------------------------------------------------------------===//

struct JsonValue {
  enum class Kind { Object, Array, String, Integer };
  Kind kind = Kind::Integer;
  std::string string;
  int64_t integer = 0;
  std::vector<std::string> keys; // objects, in file order
  std::vector<JsonValue> items;  // array elements, or the objects' values
};

class JsonParser {
public:
  explicit JsonParser(const std::string &text) : text(text) {}

  /// One value and nothing but whitespace after it.
  bool parseDocument(JsonValue &value) {
    if (!parseValue(value, 0))
      return false;
    skipSpace();
    return pos == text.size() || fail("unexpected text after the header");
  }

  const std::string &why() const { return message; }

private:
  // Our headers nest three deep; the cap keeps "[[[[..." off the stack.
  static constexpr int kMaxDepth = 32;

  bool fail(const std::string &what) {
    message = "at byte " + std::to_string(pos) + ": " + what;
    return false;
  }

  void skipSpace() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' ||
                                 text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }

  bool consume(char c) {
    skipSpace();
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }

  bool parseValue(JsonValue &value, int depth) {
    if (depth > kMaxDepth)
      return fail("nested too deeply");
    skipSpace();
    if (pos == text.size())
      return fail("unexpected end of the header");
    const char c = text[pos];
    if (c == '"') {
      value.kind = JsonValue::Kind::String;
      return parseString(value.string);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      value.kind = JsonValue::Kind::Integer;
      return parseInteger(value.integer);
    }
    if (c != '{' && c != '[')
      return fail(std::string("unexpected character '") + c + "'");
    const bool object = c == '{';
    const char close = object ? '}' : ']';
    value.kind = object ? JsonValue::Kind::Object : JsonValue::Kind::Array;
    ++pos;
    if (consume(close))
      return true;
    std::set<std::string> seen;
    do {
      if (object) {
        skipSpace();
        std::string key;
        if (pos == text.size() || text[pos] != '"')
          return fail("expected a string key");
        if (!parseString(key))
          return false;
        if (!seen.insert(key).second)
          return fail("duplicate key '" + key + "'");
        if (!consume(':'))
          return fail("expected ':'");
        value.keys.push_back(std::move(key));
      }
      value.items.emplace_back();
      if (!parseValue(value.items.back(), depth + 1))
        return false;
    } while (consume(','));
    return consume(close) ||
           fail(std::string("expected ',' or '") + close + "'");
  }

  bool parseHex4(uint32_t &code) {
    if (text.size() - pos < 4)
      return fail("truncated \\u escape");
    code = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text[pos++];
      const int digit = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
      if (digit < 0)
        return fail("bad \\u escape");
      code = code * 16 + digit;
    }
    return true;
  }

  bool parseString(std::string &out) {
    ++pos; // the opening quote
    while (pos < text.size()) {
      const unsigned char c = text[pos];
      if (c == '"') {
        ++pos;
        return true;
      }
      if (c < 0x20)
        return fail("control character in a string");
      ++pos;
      if (c != '\\') {
        out += char(c);
        continue;
      }
      if (pos == text.size())
        break;
      const char escape = text[pos++];
      switch (escape) {
      case '"':
      case '\\':
      case '/':
        out += escape;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t code = 0;
        if (!parseHex4(code))
          return false;
        if (code >= 0xDC00 && code <= 0xDFFF)
          return fail("unpaired surrogate in a \\u escape");
        if (code >= 0xD800 && code <= 0xDBFF) {
          uint32_t low = 0;
          if (text.compare(pos, 2, "\\u") != 0)
            return fail("unpaired surrogate in a \\u escape");
          pos += 2;
          if (!parseHex4(low))
            return false;
          if (low < 0xDC00 || low > 0xDFFF)
            return fail("unpaired surrogate in a \\u escape");
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        }
        appendUtf8(out, code);
        break;
      }
      default:
        --pos;
        return fail(std::string("bad escape '\\") + escape + "'");
      }
    }
    return fail("unterminated string");
  }

  bool parseInteger(int64_t &out) {
    const bool negative = text[pos] == '-';
    if (negative)
      ++pos;
    const size_t start = pos;
    uint64_t magnitude = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (magnitude > (uint64_t(INT64_MAX) - 9) / 10)
        return fail("integer too large");
      magnitude = magnitude * 10 + (text[pos++] - '0');
    }
    if (pos == start)
      return fail("expected a digit");
    if (text[start] == '0' && pos - start > 1)
      return fail("leading zero in a number");
    if (pos < text.size() &&
        (text[pos] == '.' || text[pos] == 'e' || text[pos] == 'E'))
      return fail("expected an integer");
    out = negative ? -int64_t(magnitude) : int64_t(magnitude);
    return true;
  }

  const std::string &text;
  size_t pos = 0;
  std::string message;
};

const JsonValue *member(const JsonValue &object, const std::string &key) {
  for (size_t i = 0; i < object.keys.size(); ++i)
    if (object.keys[i] == key)
      return &object.items[i];
  return nullptr;
}

/// An array of integers as a vector, or nullopt if it is something else.
std::optional<std::vector<int64_t>> integers(const JsonValue *value) {
  if (!value || value->kind != JsonValue::Kind::Array)
    return std::nullopt;
  std::vector<int64_t> result;
  for (const JsonValue &item : value->items) {
    if (item.kind != JsonValue::Kind::Integer)
      return std::nullopt;
    result.push_back(item.integer);
  }
  return result;
}

struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  int64_t begin, end;
};
} // namespace

bool writeSafetensors(const std::string &path,
                      const std::vector<NamedTensor> &tensors,
                      const std::map<std::string, std::string> &metadata,
                      std::string &error) {
  auto fail = [&](const std::string &why) {
    error = "cannot write checkpoint '" + path + "': " + why;
    return false;
  };
  // Metadata first, as the Python library writes it.
  std::string header = "{";
  if (!metadata.empty()) {
    header += quoteJson(kMetadataKey) + ":{";
    for (const auto &[key, value] : metadata) {
      if (!isValidUtf8(key) || !isValidUtf8(value))
        return fail("metadata '" + key + "' is not valid UTF-8");
      if (header.back() != '{')
        header += ',';
      header += quoteJson(key) + ":" + quoteJson(value);
    }
    header += "}";
  }
  std::set<std::string> names;
  int64_t offset = 0;
  for (const NamedTensor &named : tensors) {
    if (named.name == kMetadataKey || !names.insert(named.name).second)
      return fail("tensor name '" + named.name + "' is " +
                  (named.name == kMetadataKey ? "reserved" : "used twice"));
    if (!isValidUtf8(named.name))
      return fail("tensor name '" + named.name + "' is not valid UTF-8");
    if (!named.tensor.data())
      return fail("tensor '" + named.name + "' has no data");
    const int64_t bytes = named.tensor.byteSize();
    if (header.size() > 1)
      header += ',';
    header += quoteJson(named.name) + ":{\"dtype\":\"" +
              safetensorsDType(named.tensor.dtype()) + "\",\"shape\":[";
    for (size_t i = 0; i < named.tensor.shape().size(); ++i)
      header += (i ? "," : "") + std::to_string(named.tensor.shape()[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  // Spaces up to a multiple of 8, so that the data is 8-byte aligned.
  header.append((8 - header.size() % 8) % 8, ' ');
  unsigned char sizeBytes[8];
  for (int i = 0; i < 8; ++i)
    sizeBytes[i] = static_cast<unsigned char>(uint64_t(header.size()) >> 8 * i);

  std::string why;
  if (writeFileAtomically(
          path,
          [&](const WriteBytes &write) {
            bool ok =
                write(sizeBytes, 8) && write(header.data(), header.size());
            for (size_t i = 0; ok && i < tensors.size(); ++i)
              ok = write(tensors[i].tensor.data(),
                         size_t(tensors[i].tensor.byteSize()));
            return ok;
          },
          why))
    return true;
  // "cannot write 'PATH': why" as "cannot write checkpoint 'PATH': why".
  error = "cannot write checkpoint " + why.substr(std::strlen("cannot write "));
  return false;
}

std::optional<std::vector<NamedTensor>>
readSafetensors(const std::string &path,
                std::map<std::string, std::string> &metadata,
                std::string &error) {
  metadata.clear();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot open checkpoint '" + path + "'";
    return std::nullopt;
  }
  auto fail = [&](const std::string &why) {
    error = "checkpoint '" + path + "': " + why;
    return std::nullopt;
  };
  in.seekg(0, std::ios::end);
  const std::streamoff fileEnd = in.tellg();
  if (fileEnd < 0)
    return fail("cannot read the file");
  const uint64_t fileSize = uint64_t(fileEnd);
  in.seekg(0);
  unsigned char sizeBytes[8];
  if (fileSize < 8 || !in.read(reinterpret_cast<char *>(sizeBytes), 8))
    return fail("the file has " + std::to_string(fileSize) +
                " bytes, fewer than the 8 of the header size");
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = headerSize << 8 | sizeBytes[i];
  if (headerSize > fileSize - 8)
    return fail("the header size " + std::to_string(headerSize) +
                " runs past the end of the file (" + std::to_string(fileSize) +
                " bytes)");
  if (headerSize > kMaxHeaderSize)
    return fail("the header size " + std::to_string(headerSize) +
                " is larger than the limit of " +
                std::to_string(kMaxHeaderSize));
  std::string header(headerSize, '\0');
  if (!in.read(header.data(), std::streamsize(headerSize)))
    return fail("cannot read the header");
  if (!isValidUtf8(header))
    return fail("the header is not valid UTF-8");
  JsonValue root;
  JsonParser parser(header);
  if (!parser.parseDocument(root))
    return fail("malformed header JSON " + parser.why());
  if (root.kind != JsonValue::Kind::Object)
    return fail("the header is not a JSON object");

  const int64_t dataSize = int64_t(fileSize - 8 - headerSize);
  std::vector<Entry> entries;
  for (size_t i = 0; i < root.keys.size(); ++i) {
    const std::string &name = root.keys[i];
    const JsonValue &value = root.items[i];
    if (name == kMetadataKey) {
      if (value.kind != JsonValue::Kind::Object)
        return fail("__metadata__ is not an object");
      for (size_t k = 0; k < value.keys.size(); ++k) {
        if (value.items[k].kind != JsonValue::Kind::String)
          return fail("metadata '" + value.keys[k] + "' is not a string");
        metadata[value.keys[k]] = value.items[k].string;
      }
      continue;
    }
    const std::string tensor = "tensor '" + name + "'";
    if (value.kind != JsonValue::Kind::Object)
      return fail(tensor + " is not described by an object");
    // Other keys are ignored, as the reference implementation does.
    const JsonValue *dtypeValue = member(value, "dtype");
    if (!dtypeValue || dtypeValue->kind != JsonValue::Kind::String)
      return fail(tensor + " has no string 'dtype'");
    std::optional<DType> dtype = parseSafetensorsDType(dtypeValue->string);
    if (!dtype)
      return fail(tensor + " has dtype '" + dtypeValue->string +
                  "', which moa does not read (F32, F16, BF16, I32, BOOL)");
    std::optional<std::vector<int64_t>> shape =
        integers(member(value, "shape"));
    if (!shape)
      return fail(tensor + " has no 'shape' array of integers");
    std::optional<int64_t> elements = checkedNumElements(*shape);
    if (!elements)
      return fail(tensor + " has shape " + formatInts(*shape) +
                  ", with a negative size or too many elements");
    std::optional<std::vector<int64_t>> offsets =
        integers(member(value, "data_offsets"));
    if (!offsets || offsets->size() != 2)
      return fail(tensor + " has no 'data_offsets' pair of integers");
    const int64_t begin = (*offsets)[0], end = (*offsets)[1];
    if (begin < 0 || end < begin)
      return fail(tensor + " has data_offsets " + formatInts(*offsets) +
                  ", which are not an interval");
    if (end > dataSize)
      return fail(tensor + " has data_offsets " + formatInts(*offsets) +
                  " past the end of the data (" + std::to_string(dataSize) +
                  " bytes; is the file truncated?)");
    const int64_t needed = *elements * dtypeSize(*dtype);
    if (end - begin != needed)
      return fail(tensor + " has " + std::to_string(end - begin) + " bytes, " +
                  dtypeValue->string + " shape " + formatInts(*shape) +
                  " needs " + std::to_string(needed));
    entries.push_back({name, *dtype, std::move(*shape), begin, end});
  }

  // The format requires the tensors to tile the data exactly: no overlap
  // (two names aliasing one buffer) and no holes (hidden payloads).
  std::vector<size_t> order(entries.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::make_pair(entries[a].begin, entries[a].end) <
           std::make_pair(entries[b].begin, entries[b].end);
  });
  int64_t covered = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    const Entry &entry = entries[order[k]];
    if (entry.begin < covered) {
      const Entry &previous = entries[order[k - 1]];
      return fail("tensors '" + previous.name + "' " +
                  formatInts({previous.begin, previous.end}) + " and '" +
                  entry.name + "' " + formatInts({entry.begin, entry.end}) +
                  " overlap");
    }
    if (entry.begin > covered)
      return fail("bytes " + formatInts({covered, entry.begin}) +
                  " of the data belong to no tensor");
    covered = entry.end;
  }
  if (covered != dataSize)
    return fail("bytes " + formatInts({covered, dataSize}) +
                " of the data belong to no tensor");

  std::vector<NamedTensor> result;
  result.reserve(entries.size());
  for (Entry &entry : entries) {
    Tensor tensor(entry.dtype, std::move(entry.shape));
    in.seekg(std::streamoff(8 + headerSize + entry.begin));
    if (!in.read(static_cast<char *>(tensor.data()), tensor.byteSize()))
      return fail("cannot read tensor '" + entry.name + "'");
    // Anything but 0 and 1 in an i1 tensor is not a value compiled code
    // expects.
    if (entry.dtype == DType::I1) {
      const uint8_t *bytes = tensor.as<uint8_t>();
      for (int64_t i = 0; i < tensor.numElements(); ++i)
        if (bytes[i] > 1)
          return fail("BOOL tensor '" + entry.name + "' holds the byte " +
                      std::to_string(bytes[i]) + " at element " +
                      std::to_string(i));
    }
    result.push_back({std::move(entry.name), std::move(tensor)});
  }
  return result;
}

} // namespace moa::runtime
