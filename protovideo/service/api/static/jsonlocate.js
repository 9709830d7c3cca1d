// Where each JSON path (scenes[2].duration, video.width) sits in the text of a job,
// so that a problem reported for a field can be shown and selected at that field.

export function locate(text) {
  const spans = new Map();       // path -> {start, end}  (the value; for keys also keyStart)
  let i = 0;
  const ws = () => { while (i < text.length && " \t\r\n".includes(text[i])) i++; };
  const str = () => {            // at '"'; returns the decoded string
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const value = (path, keyStart) => {
    ws();
    const start = i;
    const c = text[i];
    if (c === "{") {
      i++; ws();
      while (i < text.length && text[i] !== "}") {
        ws();
        const kStart = i;
        const key = str();
        ws(); i++;               // ':'
        value(path ? `${path}.${key}` : key, kStart);
        ws();
        if (text[i] === ",") i++;
        ws();
      }
      i++;
    } else if (c === "[") {
      i++; ws();
      let n = 0;
      while (i < text.length && text[i] !== "]") {
        value(`${path}[${n++}]`, undefined);
        ws();
        if (text[i] === ",") i++;
        ws();
      }
      i++;
    } else if (c === '"') {
      str();
    } else {
      while (i < text.length && !",}] \t\r\n".includes(text[i])) i++;
    }
    spans.set(path, {start: keyStart !== undefined ? keyStart : start, end: i});
  };
  value("", undefined);
  return spans;
}

// The span of `path`, or of its nearest parent present in the text (a missing field
// is shown at the object that lacks it).
export function spanOf(spans, path) {
  let p = String(path || "").replace(/^\$\.?/, "");
  while (true) {
    if (spans.has(p)) return {...spans.get(p), path: p};
    if (!p) return null;
    const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
    p = cut > 0 ? p.slice(0, cut) : "";
  }
}

export function lineOf(text, offset) {
  let line = 1;
  for (let k = 0; k < offset && k < text.length; k++) if (text[k] === "\n") line++;
  return line;
}
