#include "program_support.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <stdexcept>

namespace rbt {

// ---- Json -------------------------------------------------------------------

const Json &Json::operator[](const char *key) const
{
	auto it = obj.find(key);
	if (kind != Object || it == obj.end())
		throw std::runtime_error(std::string("no JSON member ") + key);
	return it->second;
}

const Json &Json::at(size_t i) const
{
	if (kind != Array || i >= arr.size())
		throw std::runtime_error("JSON index out of range");
	return arr[i];
}

uint64_t Json::u64() const
{
	if (kind != Number || num < 0 || num != std::floor(num))
		throw std::runtime_error("not a JSON count");
	return (uint64_t)num;
}

double Json::d() const
{
	if (kind != Number)
		throw std::runtime_error("not a JSON number");
	return num;
}

const std::string &Json::s() const
{
	if (kind != String)
		throw std::runtime_error("not a JSON string");
	return str;
}

namespace {

// Strict on purpose: the programs promise one well-formed line, so
// duplicate keys, raw control characters and trailing text are failures.
struct JsonParser {
	const std::string &t;
	size_t i = 0;

	void ws()
	{
		while (i < t.size() && (t[i] == ' ' || t[i] == '\t'))
			i++;
	}
	[[noreturn]] void fail(const char *what)
	{
		throw std::runtime_error(std::string("bad JSON: ") + what + " at " +
					 std::to_string(i) + " in: " + t);
	}
	void expect(char c)
	{
		ws();
		if (i >= t.size() || t[i] != c)
			fail("unexpected character");
		i++;
	}
	std::string string()
	{
		std::string out;
		expect('"');
		while (i < t.size() && t[i] != '"') {
			char c = t[i++];
			if (c == '\\') {
				if (i >= t.size())
					fail("escape");
				char e = t[i++];
				switch (e) {
				case 'n': out += '\n'; break;
				case 't': out += '\t'; break;
				case 'r': out += '\r'; break;
				case 'u':
					if (i + 4 > t.size())
						fail("\\u");
					out += (char)std::stoi(t.substr(i, 4), nullptr, 16);
					i += 4;
					break;
				default: out += e;
				}
			} else {
				if ((unsigned char)c < 0x20)
					fail("control character in string");
				out += c;
			}
		}
		if (i >= t.size())
			fail("unterminated string");
		i++;
		return out;
	}
	Json value()
	{
		Json v;
		ws();
		if (i >= t.size())
			fail("end of text");
		char c = t[i];
		if (c == '{') {
			v.kind = Json::Object;
			i++;
			ws();
			if (t[i] == '}') {
				i++;
				return v;
			}
			for (;;) {
				std::string k = string();
				expect(':');
				if (v.obj.count(k))
					fail("duplicate key");
				v.obj[k] = value();
				ws();
				if (t[i] == ',') {
					i++;
					continue;
				}
				expect('}');
				return v;
			}
		}
		if (c == '[') {
			v.kind = Json::Array;
			i++;
			ws();
			if (t[i] == ']') {
				i++;
				return v;
			}
			for (;;) {
				v.arr.push_back(value());
				ws();
				if (t[i] == ',') {
					i++;
					continue;
				}
				expect(']');
				return v;
			}
		}
		if (c == '"') {
			v.kind = Json::String;
			v.str = string();
			return v;
		}
		if (t.compare(i, 4, "null") == 0) {
			i += 4;
			return v;
		}
		if (t.compare(i, 4, "true") == 0 || t.compare(i, 5, "false") == 0) {
			v.kind = Json::Bool;
			v.b = t[i] == 't';
			i += v.b ? 4 : 5;
			return v;
		}
		char *end = nullptr;
		v.num = strtod(t.c_str() + i, &end);
		if (end == t.c_str() + i)
			fail("not a value");
		v.kind = Json::Number;
		i = (size_t)(end - t.c_str());
		return v;
	}
};

} // namespace

Json parse_summary(const std::string &text)
{
	INFO("summary: " << text);
	REQUIRE(!text.empty());
	REQUIRE(text.back() == '\n');
	REQUIRE(text.find('\n') == text.size() - 1);
	JsonParser p{text};
	Json v = p.value();
	p.ws();
	REQUIRE(p.i == text.size() - 1);
	REQUIRE(v.kind == Json::Object);
	return v;
}

// ---- running the programs -------------------------------------------------

Capture::Capture()
{
	char path[] = "/tmp/rb-test-out-XXXXXX";
	fd = mkstemp(path);
	REQUIRE(fd >= 0);
	unlink(path);
}

Capture::~Capture()
{
	if (fd >= 0)
		close(fd);
}

std::string Capture::text() const
{
	std::string out;
	char buf[65536];
	off_t off = 0;
	ssize_t n;
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		out.append(buf, (size_t)n);
		off += n;
	}
	return out;
}

Proc::Proc(const std::vector<std::string> &args, int stdout_fd, PreExec pre_exec)
{
	// The child gets its own copy: args may be a temporary of the caller's.
	std::vector<std::string> copy = args;
	int out_fd = stdout_fd >= 0 ? stdout_fd : out.fd, err_fd = err.fd;
	spawn(child, [copy, out_fd, err_fd, pre_exec]() {
		std::vector<char *> argv;
		for (const std::string &a : copy)
			argv.push_back(const_cast<char *>(a.c_str()));
		argv.push_back(nullptr);
		int in = open("/dev/null", O_RDONLY);
		if (in < 0 || dup2(in, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
			return 126;
		if (pre_exec != nullptr && !pre_exec())
			return 125;
		execv(argv[0], argv.data());
		return 127;
	});
	REQUIRE(child.pid > 0);
}

std::string producer_path() { return program("producer/rb-producer"); }
std::string consumer_path() { return program("consumer/rb-consumer"); }

bool Watch::open(const std::string &name, int timeout_ms)
{
	return eventually([&] { return rb_ring_open(name.c_str(), &ring) == 0; }, timeout_ms);
}

rb_ring_status Watch::status()
{
	rb_ring_status st;
	rb_ring_get_status(ring, &st);
	return st;
}

bool Watch::consumers(uint32_t n, int timeout_ms)
{
	return eventually([&] { return status().consumers >= n; }, timeout_ms);
}

bool Watch::frames(uint64_t n, int timeout_ms)
{
	return eventually([&] {
		rb_ring_status st = status();
		return st.write_seq - st.initial_seq >= n;
	}, timeout_ms);
}

} // namespace rbt
