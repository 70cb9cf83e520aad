"""HTML building blocks for the self-contained report: escaping, number cells, tables, figures and the page shell.

The page has no external resource: styles are inline, images are ``data:`` URIs, the data is an inline JSON block.
A small inline script records any JavaScript or resource error into ``#fakebench-errors`` (shown when non-empty) and,
once the page has loaded, checks that every image decoded and that the data block parses, then sets
``data-fb-check="done"`` on ``<html>``; tests read both from the DOM a headless browser dumps.
"""

from __future__ import annotations

import base64
import html
import json
import math
from typing import Any, Iterable, Sequence

__all__ = ["esc", "pct", "pct_ci", "table", "figure", "page", "data_block"]


def esc(value: Any) -> str:
    """HTML-escape ``str(value)`` (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def pct(value: Any, digits: int = 2) -> str:
    """A fraction in [0, 1] as percent text (``0.9512`` -> ``95.12``); ``n/a`` when missing or NaN."""
    return f"{100 * value:.{digits}f}" if _finite(value) else "n/a"


def pct_ci(row: dict[str, Any], key: str) -> str:
    """``acc [lo, hi]`` in percent when ``row["ci"][key]`` holds a 2-element interval, else the plain value."""
    text = pct(row.get(key))
    ci = (row.get("ci") or {}).get(key)
    if text != "n/a" and isinstance(ci, (list, tuple)) and len(ci) == 2 and all(_finite(c) for c in ci):
        text += f" [{pct(ci[0])}, {pct(ci[1])}]"
    return text


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, caption: str, numeric_from: int = 1,
          cls: str = "") -> str:
    """An accessible table (``<caption>``, ``<th scope>``); cells are escaped, the first column is a row header."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in header)
    body = []
    for row in rows:
        cells = [f'<th scope="row">{esc(row[0])}</th>']
        cells += [f'<td class="{"num" if i >= numeric_from else ""}">{esc(v)}</td>' for i, v in enumerate(row[1:], 1)]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="table-wrap"><table class="{esc(cls)}"><caption>{esc(caption)}</caption>'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>')


def figure(png: bytes, *, fig_id: str, caption: str, alt: str, files: str) -> str:
    """A ``<figure>`` with the PNG inlined as base64, its caption and the names of the PNG/SVG files."""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="{esc(fig_id)}" class="plot"><img src="data:image/png;base64,{data}" alt="{esc(alt)}">'
            f'<figcaption>{esc(caption)} <span class="files">Files: {esc(files)}</span></figcaption></figure>')


def data_block(data: Any) -> str:
    """An inline ``<script type="application/json" id="fakebench-data">`` (``</`` escaped so it cannot end early)."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, default=str).replace("</", "<\\/")
    return f'<script type="application/json" id="fakebench-data">{text}</script>'


_CSS = """
:root{--fg:#1a1a1a;--muted:#555;--bg:#fff;--line:#ccc;--accent:#0b5394;--warn:#8a1c00}
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);
background:var(--bg);margin:0 auto;max-width:1240px;padding:0 20px 60px}
header{border-bottom:2px solid var(--accent);margin-bottom:12px}
h1{font-size:1.7em;margin:18px 0 4px}h2{font-size:1.3em;margin-top:36px;border-bottom:1px solid var(--line)}
h3{font-size:1.08em;margin:20px 0 6px}h4{font-size:1em;margin:10px 0 4px}
nav ol{columns:3;margin:8px 0;padding-left:22px}a{color:var(--accent)}
.table-wrap{overflow-x:auto;margin:8px 0 14px}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:4px 0;color:var(--muted)}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
thead th{background:#eef2f7;position:sticky;top:0}tbody tr:nth-child(even){background:#f7f7f7}
td.num{text-align:right;white-space:nowrap}
figure.plot{margin:12px 0 22px}figure.plot img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:13px;color:var(--muted);max-width:1000px}
.files{display:block;font-size:12px;color:#777}
.note{color:var(--muted);font-size:13px}.warn{color:var(--warn);font-weight:600}
.gallery-set{display:flex;flex-wrap:wrap;gap:8px 32px}.gallery-run{flex:1 1 460px;min-width:300px}
h5{font-size:.92em;margin:8px 0 2px;color:var(--muted)}
.gallery{display:flex;flex-wrap:wrap;gap:8px;margin:4px 0 10px;padding:0;list-style:none}
.thumb{margin:0;width:140px;font-size:11px;color:var(--muted);word-break:break-all}
.thumb img{display:block;max-width:128px;max-height:128px;border:2px solid var(--line)}
.thumb.real img{border-color:#0072B2}.thumb.fake img{border-color:#D55E00}
.thumb.with-cam{width:276px}.thumb.with-cam img{display:inline-block;vertical-align:top;margin-right:4px}
.thumb img.gradcam{border-style:dashed}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}
#fakebench-errors{color:#fff;background:#a00;padding:8px;white-space:pre-wrap}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
main,section,details,.gallery-set,.gallery-run{min-width:0}
header p,figcaption,.note,summary,h3,h4,h5,li{overflow-wrap:anywhere}
pre{overflow-x:auto}
.headline{border-left:4px solid var(--accent);background:#f3f6fa;padding:8px 14px;margin:10px 0}
.headline p{margin:6px 0}.headline .lead{font-size:1.12em;font-weight:600}
.filter{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center;margin:8px 0;font-size:13px}
.filter label{max-width:100%;min-width:0}.filter select,.filter input{font:inherit;max-width:calc(100vw - 40px)}
.too-few{color:var(--muted);font-size:13px}
@media (max-width:700px){body{padding:0 10px 40px;font-size:14px}h1{font-size:1.35em}nav ol{columns:1}
.gallery-run{flex:1 1 100%}.thumb.with-cam{width:auto;max-width:100%}}
@media print{nav{display:none}details{display:block}}
"""

_SENTINEL = """
(function(){
  function report(msg){
    var box=document.getElementById('fakebench-errors');
    if(!box){(window.__fbPending=window.__fbPending||[]).push(msg);return;}
    box.hidden=false;box.textContent+=msg+'\\n';
  }
  window.__fbReport=report;
  window.addEventListener('error',function(e){
    var t=e.target;
    if(t&&t!==window&&(t.src||t.href)){
      report('resource failed: '+(t.tagName||'')+' '+String(t.src||t.href).slice(0,80));}
    else{report('script error: '+e.message+' at '+(e.filename||'')+':'+(e.lineno||''));}
  },true);
  window.addEventListener('unhandledrejection',function(e){report('unhandled rejection: '+e.reason);});
  window.addEventListener('load',function(){
    (window.__fbPending||[]).forEach(report);
    var imgs=document.images,bad=0;
    for(var i=0;i<imgs.length;i++){if(!imgs[i].complete||imgs[i].naturalWidth===0){bad++;
      report('image not decoded: '+(imgs[i].alt||'').slice(0,80));}}
    try{JSON.parse(document.getElementById('fakebench-data').textContent);}catch(err){report('data block: '+err);}
    var vw=document.documentElement.clientWidth,wide=[],all=document.body.getElementsByTagName('*');
    function scrolls(el){for(var p=el.parentElement;p&&p!==document.body;p=p.parentElement){
      var o=getComputedStyle(p).overflowX;if(o==='auto'||o==='scroll'||o==='hidden'){return true;}}return false;}
    for(var k=0;k<all.length;k++){var el=all[k],r=el.getBoundingClientRect();
      if(r.width>0&&(r.right>vw+1||r.left<-1)&&!scrolls(el)){
        wide.push(el.tagName.toLowerCase()+(el.id?'#'+el.id:'')+(el.className&&el.className.baseVal===undefined?
          '.'+String(el.className).split(' ').join('.'):'')+' '+Math.round(r.left)+'..'+Math.round(r.right));}}
    document.documentElement.setAttribute('data-fb-viewport',String(vw));
    document.documentElement.setAttribute('data-fb-overflow',String(wide.length));
    document.documentElement.setAttribute('data-fb-overflow-list',wide.slice(0,8).join('; '));
    document.documentElement.setAttribute('data-fb-images',String(imgs.length-bad));
    document.documentElement.setAttribute('data-fb-check','done');
  });
})();
"""


def page(*, title: str, subtitle: str, nav: Sequence[tuple[str, str]], body: str, data: Any) -> str:
    """The whole HTML document: head (inline CSS, error sentinel), header, contents, body, data block."""
    links = "".join(f'<li><a href="#{esc(i)}">{esc(t)}</a></li>' for i, t in nav)
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="fakebench report"><title>{esc(title)}</title>'
            f"<script>{_SENTINEL}</script><style>{_CSS}</style></head><body>"
            f'<div id="fakebench-errors" role="alert" hidden></div>'
            f"<header><h1>{esc(title)}</h1><p class=\"note\">{esc(subtitle)}</p></header>"
            f'<nav aria-label="Contents"><h2 id="contents">Contents</h2><ol>{links}</ol></nav>'
            f"<main>{body}</main>{data_block(data)}</body></html>\n")
