package emulator

import (
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"

	"hotfolder/uploader/emulator/cutout"
)

// render removes src's background as spec asks and encodes the result in
// mediaType (image/png, image/jpeg, image/webp or image/vnd.adobe.photoshop)
// to w.
//
// A JPEG has no alpha: the cutout is flattened over backgroundColor when
// the request gave one and over black otherwise, reproducing the known
// limitation of Adobe's service (technical usage notes) that the client
// must avoid by sending a backgroundColor. A WebP is lossless, with the
// cutout's alpha. A PSD (mode psd, or output image/vnd.adobe.photoshop)
// is flat: the cutout's colours and its mask as a fourth, alpha, channel
// (Adobe's has a layer with a layer mask; the emulator writes no layers);
// a mask in PSD is one gray channel.
func render(w io.Writer, src image.Image, spec jobSpec, mediaType string) error {
	cut, mask := cutout.Cut(src)
	if spec.trim {
		if r := cutout.Opaque(cut); !r.Empty() {
			cut = cut.SubImage(r).(*image.NRGBA)
			mask = mask.SubImage(r).(*image.Gray)
		}
	}
	var out image.Image
	switch {
	case spec.mode == modeMask:
		out = mask
	case spec.background != nil:
		out = cutout.Composite(cut, *spec.background)
	default:
		out = cut
	}
	switch mediaType {
	case mediaJPEG:
		if m, ok := out.(*image.NRGBA); ok {
			out = opaqueRGBA(cutout.Composite(m, color.NRGBA{0, 0, 0, 0xff}))
		}
		return jpeg.Encode(w, out, &jpeg.Options{Quality: 90})
	case mediaWebP:
		return encodeWebP(w, out)
	case mediaPSD:
		return encodePSD(w, out)
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	return enc.Encode(w, out)
}

// opaqueRGBA reinterprets a fully opaque NRGBA image as RGBA (identical
// bytes), which image/jpeg encodes several times faster.
func opaqueRGBA(m *image.NRGBA) *image.RGBA {
	return &image.RGBA{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}
}
