/*===- Lexer.ll - Flex scanner for .seq model files -----------------------===//
//
// A reentrant scanner producing Bison token constructors with locations.
// Columns count bytes from 1 (a tab is one column; the caret line of a
// diagnostic keeps tabs, so carets still line up). Malformed input (a stray
// character, an unterminated string, a malformed number) is reported and
// skipped or repaired, and scanning goes on.
//
// seqLex, at the bottom, sits between the scanner and the parser: it keeps
// the brace depth and the open-bracket stack that error messages and error
// recovery use, and drops tokens while the parser recovers from an error.
//
//===----------------------------------------------------------------------===*/

%{
#include "Parser.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

using seqc::DType;
using seqc::detail::OpenBracket;
using seqc::detail::ParseState;
using Token = yy::parser::symbol_type;

#define YY_DECL Token seqRawLex(yyscan_t yyscanner)
YY_DECL;

/// Advances the position over the matched text and remembers where the
/// token began.
#define YY_USER_ACTION advance(*yyextra, yytext, yyleng);

static void advance(ParseState &st, const char *text, int len) {
  st.tokText.assign(text, len);
  st.tokLine = st.line;
  st.tokCol = st.col;
  for (int i = 0; i < len; ++i) {
    if (text[i] == '\n') {
      st.prevLineEndCol = st.col;
      ++st.line;
      st.col = 1;
    } else {
      ++st.col;
    }
  }
}

static yy::location here(const ParseState &st) {
  return yy::location(yy::position(nullptr, st.tokLine, st.tokCol),
                      yy::position(nullptr, st.line, st.col));
}

static seqc::Loc hereLoc(const ParseState &st) {
  return seqc::Loc{st.tokLine, st.tokCol};
}

/// Makes a control or non-ASCII byte readable in a message.
static std::string printable(unsigned char c) {
  if (c >= 0x20 && c < 0x7f)
    return std::string(1, static_cast<char>(c));
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02x", c);
  return buf;
}

static Token makeInt(ParseState &st, const char *text) {
  errno = 0;
  char *end = nullptr;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX)) {
    st.diags.error(hereLoc(st), "integer literal '" + std::string(text) +
                                    "' is too large (the largest is " +
                                    std::to_string(INT64_MAX) + ")");
    v = 0;
  }
  return yy::parser::make_INT(static_cast<int64_t>(v), here(st));
}

static Token makeFloat(ParseState &st, const char *text) {
  double v = std::strtod(text, nullptr);
  if (std::isinf(v)) {
    st.diags.error(hereLoc(st), "floating-point literal '" +
                                    std::string(text) +
                                    "' is too large for a double; write "
                                    "'inf' for infinity");
    v = 0;
  }
  return yy::parser::make_FLOAT(v, here(st));
}
%}

%option reentrant noyywrap nounput noinput never-interactive
%option nodefault warn 8bit
%option extra-type="seqc::detail::ParseState *"

DIGIT   [0-9]
ID      [A-Za-z_][A-Za-z0-9_]*
EXP     [eE][+-]?{DIGIT}+
MANT    ({DIGIT}+"."{DIGIT}+|"."{DIGIT}+)

%%

[ \t\r\f\v]+    { }
\n              { yyextra->sawNewline = true; }
"#"[^\n]*       { }

"dim"           { return yy::parser::make_DIM(here(*yyextra)); }
"const"         { return yy::parser::make_CONST(here(*yyextra)); }
"fn"            { return yy::parser::make_FN(here(*yyextra)); }
"layer"         { return yy::parser::make_LAYER(here(*yyextra)); }
"model"         { return yy::parser::make_MODEL(here(*yyextra)); }
"param"         { return yy::parser::make_PARAM(here(*yyextra)); }
"scan"          { return yy::parser::make_SCAN(here(*yyextra)); }
"reverse"       { return yy::parser::make_REVERSE(here(*yyextra)); }
"carry"         { return yy::parser::make_CARRY(here(*yyextra)); }
"for"           { return yy::parser::make_FOR(here(*yyextra)); }
"in"            { return yy::parser::make_IN(here(*yyextra)); }
"return"        { return yy::parser::make_RETURN(here(*yyextra)); }
"None"          { return yy::parser::make_NONE(here(*yyextra)); }
"true"          { return yy::parser::make_TRUE(here(*yyextra)); }
"false"         { return yy::parser::make_FALSE(here(*yyextra)); }
"inf"           { return yy::parser::make_INF(here(*yyextra)); }
"f32"           { return yy::parser::make_DTYPE(DType::F32, here(*yyextra)); }
"f16"           { return yy::parser::make_DTYPE(DType::F16, here(*yyextra)); }
"bf16"          { return yy::parser::make_DTYPE(DType::BF16, here(*yyextra)); }
"i32"           { return yy::parser::make_DTYPE(DType::I32, here(*yyextra)); }
"i64"           { return yy::parser::make_DTYPE(DType::I64, here(*yyextra)); }
"bool"          { return yy::parser::make_DTYPE(DType::Bool, here(*yyextra)); }

({DIGIT}+|{MANT})[eE][+-]? {
                  yyextra->diags.error(hereLoc(*yyextra),
                      "malformed number '" + std::string(yytext) +
                      "': expected digits after the exponent");
                  return yy::parser::make_FLOAT(0, here(*yyextra));
                }
{MANT}{EXP}?|{DIGIT}+{EXP} {
                  return makeFloat(*yyextra, yytext);
                }
{DIGIT}+        { return makeInt(*yyextra, yytext); }
({DIGIT}+|{MANT}){EXP}?[A-Za-z_][A-Za-z0-9_]* {
                  yyextra->diags.error(hereLoc(*yyextra),
                      "malformed number '" + std::string(yytext) +
                      "': a name cannot start with a digit");
                  return yy::parser::make_INT(0, here(*yyextra));
                }
{ID}            { return yy::parser::make_IDENT(yytext, here(*yyextra)); }

\"[^"\n]*\"     { return yy::parser::make_STRING(std::string(yytext + 1,
                                                             yyleng - 2),
                                                 here(*yyextra)); }
\"[^"\n]*       {
                  yyextra->diags.error(hereLoc(*yyextra),
                      "unterminated string: expected '\"' before the end of "
                      "the line");
                  return yy::parser::make_STRING(std::string(yytext + 1),
                                                 here(*yyextra));
                }

"("             { return yy::parser::make_LPAREN(here(*yyextra)); }
")"             { return yy::parser::make_RPAREN(here(*yyextra)); }
"["             { return yy::parser::make_LBRACKET(here(*yyextra)); }
"]"             { return yy::parser::make_RBRACKET(here(*yyextra)); }
"{"             { return yy::parser::make_LBRACE(here(*yyextra)); }
"}"             { return yy::parser::make_RBRACE(here(*yyextra)); }
","             { return yy::parser::make_COMMA(here(*yyextra)); }
":"             { return yy::parser::make_COLON(here(*yyextra)); }
";"             { return yy::parser::make_SEMI(here(*yyextra)); }
"..."           { return yy::parser::make_ELLIPSIS(here(*yyextra)); }
".."            { return yy::parser::make_DOTDOT(here(*yyextra)); }
"."             { return yy::parser::make_DOT(here(*yyextra)); }
"->"            { return yy::parser::make_ARROW(here(*yyextra)); }
"=="            { return yy::parser::make_EQ(here(*yyextra)); }
"!="            { return yy::parser::make_NE(here(*yyextra)); }
"<="            { return yy::parser::make_LE(here(*yyextra)); }
">="            { return yy::parser::make_GE(here(*yyextra)); }
"="             { return yy::parser::make_ASSIGN(here(*yyextra)); }
"+"             { return yy::parser::make_PLUS(here(*yyextra)); }
"-"             { return yy::parser::make_MINUS(here(*yyextra)); }
"*"             { return yy::parser::make_STAR(here(*yyextra)); }
"/"             { return yy::parser::make_SLASH(here(*yyextra)); }
"@"             { return yy::parser::make_AT(here(*yyextra)); }
"<"             { return yy::parser::make_LT(here(*yyextra)); }
">"             { return yy::parser::make_GT(here(*yyextra)); }
"&"             { return yy::parser::make_AMP(here(*yyextra)); }
"|"             { return yy::parser::make_PIPE(here(*yyextra)); }
"!"             { return yy::parser::make_BANG(here(*yyextra)); }

"\xe1\xb5\x80"  {
                  yyextra->diags.error(hereLoc(*yyextra),
                      "invalid character '\xe1\xb5\x80': write 'x.T' to swap "
                      "the last two axes");
                }
[\x80-\xff]+    {
                  yyextra->diags.error(hereLoc(*yyextra),
                      "invalid character: non-ASCII text is allowed only in "
                      "comments and strings");
                }
.               {
                  yyextra->diags.error(hereLoc(*yyextra),
                      "invalid character '" +
                      printable(static_cast<unsigned char>(yytext[0])) +
                      "'");
                }

<<EOF>>         {
                  // Point at the end of the last line rather than at the
                  // empty line after its newline.
                  ParseState &st = *yyextra;
                  bool afterNewline = st.col == 1 && st.line > 1;
                  st.tokLine = afterNewline ? st.line - 1 : st.line;
                  st.tokCol = afterNewline ? st.prevLineEndCol : st.col;
                  return yy::parser::make_END(here(st));
                }

%%

using Kind = yy::parser::symbol_kind;

/// What an opening bracket opens, from the two tokens before it.
static const char *bracketContext(char open, int prev, int prevPrev) {
  switch (open) {
  case '(':
    if (prev == Kind::S_IDENT && prevPrev == Kind::S_FN)
      return "the parameter list";
    if (prev == Kind::S_IDENT)
      return "the call";
    if (prev == Kind::S_ARROW)
      return "the result types";
    return "the parenthesis";
  case '[':
    if (prev == Kind::S_DTYPE)
      return "the shape";
    if (prev == Kind::S_IDENT || prev == Kind::S_RPAREN ||
        prev == Kind::S_RBRACKET)
      return "the index";
    return "the list";
  default:
    if (prevPrev == Kind::S_LAYER)
      return "the layer";
    if (prevPrev == Kind::S_MODEL)
      return "the model";
    return "the block";
  }
}

/// Records what error messages and recovery need to know about `tok`, and
/// updates the brace depth and the bracket stack.
static void track(ParseState &st, const Token &tok) {
  int kind = tok.kind();
  st.lastDepth = st.braceDepth;
  st.lastStartsLine = st.sawNewline;
  st.sawNewline = false;
  st.lastInnermost = st.brackets.empty()
                         ? std::nullopt
                         : std::optional<OpenBracket>(st.brackets.back());
  if (kind == Kind::S_YYEOF)
    st.lastText.clear();
  else
    st.lastText = st.tokText;

  char open = 0, close = 0;
  switch (kind) {
  case Kind::S_LPAREN: open = '('; break;
  case Kind::S_LBRACKET: open = '['; break;
  case Kind::S_LBRACE: open = '{'; break;
  case Kind::S_RPAREN: close = '('; break;
  case Kind::S_RBRACKET: close = '['; break;
  case Kind::S_RBRACE: close = '{'; break;
  default: break;
  }
  if (open) {
    seqc::Loc loc{tok.location.begin.line, tok.location.begin.column};
    st.brackets.push_back(
        {open, loc, bracketContext(open, st.prevKind, st.prevPrevKind)});
    if (open == '{')
      ++st.braceDepth;
  } else if (close) {
    if (!st.brackets.empty() && st.brackets.back().open == close) {
      st.brackets.pop_back();
    } else if (close == '{') {
      // A '}' also closes whatever '(' or '[' was left open inside it.
      while (!st.brackets.empty() && st.brackets.back().open != '{')
        st.brackets.pop_back();
      if (!st.brackets.empty())
        st.brackets.pop_back();
    }
    if (close == '{' && st.braceDepth > 0)
      --st.braceDepth;
  }
  st.prevPrevKind = st.prevKind;
  st.prevKind = kind;
}

/// The token source the parser calls: the scanner's tokens, less those
/// dropped while recovering from a syntax error.
yy::parser::symbol_type yylex(yyscan_t scanner, ParseState &st) {
  for (;;) {
    Token tok = seqRawLex(scanner);
    track(st, tok);
    if (!st.skipping)
      return tok;
    bool resume = tok.kind() == Kind::S_YYEOF ||
                  (st.lastDepth <= st.skipDepth &&
                   (st.lastStartsLine || tok.kind() == Kind::S_RBRACE));
    if (resume) {
      st.skipping = false;
      return tok;
    }
  }
}
