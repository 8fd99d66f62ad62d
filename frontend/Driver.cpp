//===- Driver.cpp - Parse a .seq file into an AST -------------------------===//
//
// Runs the Flex scanner and the Bison parser over one buffer, and turns
// Bison's syntax errors into the house form: what was expected, as the user
// would write it, and what was found, with a note at the bracket left open.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

// Parser.h declares the ParseState that Lexer.h names.
#include "Parser.h"

#include "Lexer.h"

#include <set>
#include <string>
#include <vector>

using namespace seqc;
using Kind = yy::parser::symbol_kind;

std::unique_ptr<Module> seqc::parseModule(DiagEngine &diags) {
  detail::ParseState st(diags);
  yyscan_t scanner = nullptr;
  if (yylex_init_extra(&st, &scanner) != 0) {
    diags.error(Loc(), "cannot start the scanner");
    return std::move(st.module);
  }
  const std::string &src = diags.source();
  YY_BUFFER_STATE buf =
      yy_scan_bytes(src.data(), static_cast<int>(src.size()), scanner);
  yy::parser parser(scanner, st);
  parser.parse();
  yy_delete_buffer(buf, scanner);
  yylex_destroy(scanner);
  return std::move(st.module);
}

//===----------------------------------------------------------------------===//
// Syntax error messages
//===----------------------------------------------------------------------===//

static std::string quote(Kind::symbol_kind_type k) {
  return std::string("'") + yy::parser::symbol_name(k) + "'";
}

/// A token kind the parser expected, as the user would write it.
static std::string expectedName(Kind::symbol_kind_type k) {
  switch (k) {
  case Kind::S_YYEOF:
    return "end of file";
  case Kind::S_IDENT:
    return "identifier";
  case Kind::S_INT:
    return "integer";
  case Kind::S_FLOAT:
    return "number";
  case Kind::S_STRING:
    return "string";
  case Kind::S_DTYPE:
    return "an element type ('f32', 'f16', 'bf16', 'i32', 'i64' or 'bool')";
  default:
    return quote(k);
  }
}

/// The token the parser found instead, with its text.
static std::string foundName(Kind::symbol_kind_type k,
                             const std::string &text) {
  switch (k) {
  case Kind::S_YYEOF:
    return "end of file";
  case Kind::S_IDENT:
    return "identifier '" + text + "'";
  case Kind::S_INT:
    return "integer '" + text + "'";
  case Kind::S_FLOAT:
    return "number '" + text + "'";
  case Kind::S_STRING:
    return "string " + text;
  case Kind::S_DTYPE:
    return "'" + text + "'";
  default:
    return quote(k);
  }
}

static bool isComparison(int k) {
  return k == Kind::S_EQ || k == Kind::S_NE || k == Kind::S_LT ||
         k == Kind::S_LE || k == Kind::S_GT || k == Kind::S_GE;
}

static std::string joinAlternatives(const std::vector<std::string> &items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0)
      out += i + 1 == items.size() ? " or " : ", ";
    out += items[i];
  }
  return out;
}

void yy::parser::report_syntax_error(const context &ctx) const {
  symbol_kind_type buf[YYNTOKENS];
  int n = ctx.expected_tokens(buf, YYNTOKENS);
  std::set<int> expected(buf, buf + n);
  const std::set<int> allExpected = expected;
  auto has = [&](std::initializer_list<int> ks) {
    for (int k : ks)
      if (!expected.count(k))
        return false;
    return true;
  };
  auto take = [&](std::initializer_list<int> ks) {
    for (int k : ks)
      expected.erase(k);
  };

  int found = ctx.token();
  Loc loc{ctx.location().begin.line, ctx.location().begin.column};

  // Describe the expected set by category where a whole category fits:
  // "a statement" reads better than fourteen tokens. Plain tokens come
  // first, then categories, then closers and the end of the file:
  // "expected ',' or a declaration", "expected a statement or '}'".
  std::vector<std::string> categories;
  bool afterExpr = has({Kind::S_PLUS, Kind::S_STAR});
  bool exprStart = has({Kind::S_IDENT, Kind::S_INT, Kind::S_LPAREN,
                        Kind::S_MINUS});
  if (afterExpr)
    take({Kind::S_PLUS, Kind::S_MINUS, Kind::S_STAR, Kind::S_SLASH, Kind::S_AT,
          Kind::S_EQ, Kind::S_NE, Kind::S_LT, Kind::S_LE, Kind::S_GT,
          Kind::S_GE, Kind::S_AMP, Kind::S_PIPE, Kind::S_LBRACKET,
          Kind::S_DOT, Kind::S_LPAREN});
  if (has({Kind::S_DIM, Kind::S_CONST, Kind::S_FN, Kind::S_LAYER,
           Kind::S_MODEL})) {
    // "a declaration" also says that the file could end here.
    take({Kind::S_DIM, Kind::S_CONST, Kind::S_FN, Kind::S_LAYER,
          Kind::S_MODEL, Kind::S_YYEOF});
    categories.push_back("a declaration ('dim', 'const', 'fn', 'layer' or "
                         "'model')");
  }
  if (has({Kind::S_PARAM, Kind::S_CONST, Kind::S_FN, Kind::S_LAYER})) {
    take({Kind::S_PARAM, Kind::S_CONST, Kind::S_FN, Kind::S_LAYER});
    categories.push_back("a member ('param', 'layer', 'const' or 'fn')");
  }
  if (exprStart) {
    take({Kind::S_IDENT, Kind::S_INT, Kind::S_FLOAT, Kind::S_STRING,
          Kind::S_TRUE, Kind::S_FALSE, Kind::S_INF, Kind::S_NONE,
          Kind::S_DTYPE, Kind::S_LPAREN, Kind::S_LBRACKET, Kind::S_MINUS,
          Kind::S_BANG});
    if (has({Kind::S_RETURN, Kind::S_FOR})) {
      take({Kind::S_RETURN, Kind::S_FOR, Kind::S_SCAN, Kind::S_REVERSE,
            Kind::S_SEMI});
      categories.push_back("a statement");
    } else if (has({Kind::S_ELLIPSIS})) {
      take({Kind::S_ELLIPSIS, Kind::S_COLON});
      categories.push_back(
          "an index (an expression, a slice, 'None' or '...')");
    } else {
      categories.push_back("an expression");
    }
  }
  // After a name in a call, '=' would make it a keyword argument; saying
  // so only distracts from the missing ',' or ')'.
  if (has({Kind::S_ASSIGN, Kind::S_RPAREN}))
    take({Kind::S_ASSIGN});
  std::vector<int> last;
  for (int k : {Kind::S_RPAREN, Kind::S_RBRACKET, Kind::S_RBRACE,
                Kind::S_YYEOF})
    if (expected.erase(k))
      last.push_back(k);
  std::vector<std::string> items;
  for (int k : expected)
    items.push_back(expectedName(static_cast<symbol_kind_type>(k)));
  items.insert(items.end(), categories.begin(), categories.end());
  for (int k : last)
    items.push_back(expectedName(static_cast<symbol_kind_type>(k)));

  std::string msg;
  if (isComparison(found) && afterExpr && !allExpected.count(found)) {
    msg = "comparisons do not chain: expected '&' or '|' between two "
          "comparisons";
  } else if (items.empty()) {
    msg = "unexpected token";
  } else {
    msg = "expected " + joinAlternatives(items);
  }

  // Blame the bracket left open when its closer is among the expected
  // tokens. For braces, only when nothing else could come: the statement
  // message says enough otherwise.
  const detail::OpenBracket *open =
      st.lastInnermost ? &*st.lastInnermost : nullptr;
  if (open) {
    int closer = open->open == '(' ? Kind::S_RPAREN
                 : open->open == '[' ? Kind::S_RBRACKET
                                     : Kind::S_RBRACE;
    bool blame = allExpected.count(closer) &&
                 (open->open != '{' || found == Kind::S_YYEOF ||
                  allExpected.size() == 1);
    if (!blame)
      open = nullptr;
    else
      msg += std::string(" to close ") + open->what;
  }
  msg += ", found " + foundName(static_cast<symbol_kind_type>(found),
                                st.lastText);
  st.diags.error(loc, msg);
  if (open)
    st.diags.note(open->loc, std::string("to match this '") + open->open +
                                 "'");

  // Recover at the next line (see ParseState::skipping), unless the token
  // found already closes the construct or ends the file.
  if (found != Kind::S_RBRACE && found != Kind::S_YYEOF) {
    st.skipping = true;
    st.skipDepth = st.lastDepth;
  }
}
