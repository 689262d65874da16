/** A uPlot time series: a thin Preact wrapper that rebuilds the plot when its series change and resizes with its box. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  color: string;
}

export function Chart(props: { times: number[]; series: Series[]; values: number[][]; height?: number; title?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const key = props.series.map((s) => s.label).join('|');
  useEffect(() => {
    if (!box.current) return;
    const width = Math.max(300, box.current.clientWidth);
    const opts: uPlot.Options = {
      title: props.title,
      width,
      height: props.height ?? 220,
      series: [{}, ...props.series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: false } }))],
      axes: [{ stroke: '#9aa4b2', grid: { stroke: '#2a3140' } }, { stroke: '#9aa4b2', grid: { stroke: '#2a3140' }, size: 60 }],
      scales: { x: { time: true } },
    };
    plot.current = new uPlot(opts, [props.times, ...props.values] as uPlot.AlignedData, box.current);
    const ro = new ResizeObserver(() => box.current && plot.current?.setSize({ width: Math.max(300, box.current.clientWidth), height: props.height ?? 220 }));
    ro.observe(box.current);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [key]);
  useEffect(() => {
    plot.current?.setData([props.times, ...props.values] as uPlot.AlignedData);
  }, [props.times, props.values]);
  return <div class="chart" ref={box} />;
}
